import type { Context } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import { randomId, sha256 } from '../lib/random.js'

const PREFIX = '__Host-bff-tx-'
/** Sign-ins a browser may have in flight at once; older transaction cookies are dropped. */
export const MAX_PENDING_TRANSACTIONS = 5
export const TRANSACTION_TTL_SECONDS = 600

/**
 * Binds a login transaction to the browser that started it. One cookie per `state` so
 * several tabs can sign in at once; the value is a random binding whose hash the
 * transaction record keeps. SameSite=Lax, because the provider's redirect back to the
 * callback is a cross-site navigation and a Strict cookie would not be sent on it.
 */
export class TransactionCookie {
  nameFor(state: string): string {
    return `${PREFIX}${sha256(state).slice(0, 16)}`
  }

  /** A new binding value and the hash the transaction record keeps of it. */
  newBinding(now: number): { value: string; hash: string } {
    const value = `${Math.floor(now / 1000)}.${randomId()}`
    return { value, hash: sha256(value) }
  }

  /** Sets the binding cookie for `state`, dropping the oldest ones beyond the cap. */
  set(c: Context, state: string, binding: string): void {
    this.#dropOldest(c)
    setCookie(c, this.nameFor(state), binding, {
      path: '/',
      secure: true,
      httpOnly: true,
      sameSite: 'Lax',
      maxAge: TRANSACTION_TTL_SECONDS,
    })
  }

  /** The hash of this browser's binding for `state`, if it holds one. */
  bindingHash(c: Context, state: string): string | undefined {
    const value = getCookie(c, this.nameFor(state))
    return value ? sha256(value) : undefined
  }

  clear(c: Context, state: string): void {
    deleteCookie(c, this.nameFor(state), {
      path: '/',
      secure: true,
      httpOnly: true,
      sameSite: 'Lax',
    })
  }

  #dropOldest(c: Context): void {
    const pending = Object.entries(getCookie(c))
      .filter(([name]) => name.startsWith(PREFIX))
      .map(([name, value]) => ({ name, issuedAt: Number(value.split('.')[0]) || 0 }))
      .sort((a, b) => b.issuedAt - a.issuedAt)
    for (const stale of pending.slice(MAX_PENDING_TRANSACTIONS - 1)) {
      deleteCookie(c, stale.name, { path: '/', secure: true, httpOnly: true, sameSite: 'Lax' })
    }
  }
}
