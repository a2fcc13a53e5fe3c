import type { BrowserContext, Page } from '@playwright/test'
import { unsealData } from 'iron-session'
import { sessionKey } from '../../src/session/session-key.js'
import { TokenCipher } from '../../src/session/token-cipher.js'
import type { StoredSession } from '../../src/session/types.js'
import { expect } from './fixtures.js'
import type { E2eBroker, Stack } from './stack.js'

/**
 * Completes the provider's side of a sign-in the page has started: the login form (with the
 * one-time code when it asks for one), then the consent page when the provider asks for it
 * (a new provider session always does).
 */
export async function signInAtProvider(page: Page, stack: Stack, user = 'alice'): Promise<void> {
  const password = stack.provider.users[user]?.password
  if (!password) throw new Error(`no dev user ${user}`)
  await expect(page.locator('input[name=username]')).toBeVisible()
  expect(new URL(page.url()).origin).toBe(new URL(stack.provider.issuer).origin)
  await page.locator('input[name=username]').fill(user)
  await page.locator('input[name=password]').fill(password)
  // A step-up sign-in asks for the one-time code as well.
  const code = page.locator('input[name=code]')
  if ((await code.count()) > 0) await code.fill(stack.provider.users[user]?.oneTimeCode ?? '')
  await page.getByRole('button', { name: 'Sign in' }).click()
  const allow = page.getByRole('button', { name: 'Allow' })
  const signedIn = page.getByTestId('signed-in')
  await expect(allow.or(signedIn)).toBeVisible()
  if (await allow.isVisible()) await allow.click()
}

/** Opens `path` on the broker signed out, signs in through the SPA and waits for the user panel. */
export async function signIn(
  page: Page,
  stack: Stack,
  broker: E2eBroker = stack.broker,
  path = '/',
): Promise<void> {
  await page.goto(broker.url + path)
  await page.getByTestId('sign-in').click()
  await signInAtProvider(page, stack)
  await expect(page.getByTestId('signed-in')).toBeVisible()
}

/** The value of the session cookie this browser context holds for `broker`, if any. */
export async function sessionCookieValue(
  context: BrowserContext,
  broker: E2eBroker,
): Promise<string | undefined> {
  const cookies = await context.cookies(broker.url)
  return cookies.find((c) => c.name === broker.bff.config.cookieName)?.value
}

/**
 * The stored session behind the browser's cookie: unseal it as the broker does, then read
 * the record by its hashed key. Tests learn the real token strings from here.
 */
export async function storedSession(
  context: BrowserContext,
  broker: E2eBroker,
): Promise<{ key: string; sealed: Record<string, unknown>; session: StoredSession | null }> {
  const value = await sessionCookieValue(context, broker)
  if (!value) throw new Error('the browser holds no session cookie')
  const sealed = await unsealData<Record<string, unknown>>(value, {
    password: broker.cookiePasswords,
  })
  if (typeof sealed.sid !== 'string') throw new Error('the cookie does not unseal to a session id')
  const key = sessionKey(sealed.sid)
  const stored = await broker.store.getSession(key)
  const keys = broker.bff.config.tokenEncryptionKeys
  // The store holds the token fields encrypted; tests hunt for the real token strings.
  const session =
    stored && keys.length > 0
      ? { ...stored, tokens: new TokenCipher(keys).open(stored.tokens, key) }
      : stored
  return { key, sealed, session }
}

/** Whether the store still holds a session (a boolean, so a failure never prints tokens). */
export async function sessionExists(broker: E2eBroker, key: string): Promise<boolean> {
  return (await broker.store.getSession(key)) !== null
}
