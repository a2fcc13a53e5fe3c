import { BffError } from '../errors/bff-error.js'
import type { HeaderReader } from '../middleware/csrf.js'
import type { DpopKey } from '../oidc/dpop.js'
import type { Release } from '../proxy/in-flight.js'
import type { UpstreamMatch } from '../proxy/upstreams.js'
import type { AccessToken, ActiveSession } from '../session/types.js'

/** What an /api request is judged on, however it was read (Hono's context or node's request). */
export interface ApiRequest {
  method: string
  /** Path and query as a URL parser leaves them (dot segments resolved, percent-encoded). */
  path: string
  search: string
  header: HeaderReader
  /** The session cookie's value, if the request carries one. */
  cookie: string | undefined
  /**
   * A WebSocket handshake (routes/api-upgrade.ts): judged by its Origin instead of the CSRF
   * header, GET only, and only on a route with `websocket` on.
   */
  webSocket?: boolean
}

/** What the steps have decided so far; each step fills in its part. */
export interface AdmissionState {
  request: ApiRequest
  match?: UpstreamMatch
  session?: ActiveSession
  /** The session came from this process's memory, without a store read. */
  sessionFromMemory?: boolean
  /** The access token the upstream gets, with the scopes granted to it. */
  tokens?: AccessToken
  /** The key that token is bound to (RFC 9449 DPoP): the upstream gets a proof with it. */
  dpop?: DpopKey
  release?: Release
}

/** A request every step let through: where it goes, whose it is, and with which token. */
export interface Admitted {
  match: UpstreamMatch
  /** None on a route whose token is `none`, or `user-optional` without a session. */
  session: ActiveSession | undefined
  /** The access token the upstream gets (the user's, one for the route's resource, or the broker's). */
  tokens: AccessToken | undefined
  /** The key `tokens` is bound to, when it is DPoP-bound. */
  dpop: DpopKey | undefined
  /** Hands the session's in-flight slot back (if it took one); once the answer is done. */
  release: Release
}

const NOTHING_TAKEN: Release = () => {}

/** What a step may need from the caller when it does I/O. */
export interface AdmissionIo {
  /** The cookie is worthless (does not unseal, names no session): clear it in the answer. */
  clearCookie(): void
}

/** A step's answer when it cannot decide without I/O. */
export const NEEDS_IO = Symbol('needs I/O')

/**
 * One /api decision. `now` decides without I/O (returns nothing), says NEEDS_IO, or throws
 * the refusal (a BffError); `later` makes the same decision with I/O and is only called
 * after `now` said NEEDS_IO. A step that `takes` something (a slot, a count) changes state:
 * the node-level lane runs those after every other step has passed; `undo` gives back what
 * it took when a later step refuses.
 */
export interface AdmissionStep {
  name: string
  takes?: boolean
  now(state: AdmissionState): undefined | typeof NEEDS_IO
  later?(state: AdmissionState, io: AdmissionIo): Promise<void>
  undo?(state: AdmissionState): void
}

function admitted(state: AdmissionState): Admitted {
  const { match, session, tokens, dpop, release = NOTHING_TAKEN } = state
  const { token } = match?.route ?? {}
  if (!match || ((token === 'user' || token === 'client') && (!session || !tokens))) {
    throw new BffError('internal', { detail: 'admission ended without a decision' })
  }
  return { match, session, tokens, dpop, release }
}

/**
 * The /api policy as one ordered list of steps (see api/steps.ts), and the two ways to run
 * it. `admit` is the route's: every step in order, awaiting I/O where a step needs it; a
 * refusal is thrown. `admitWithoutIo` is the node-level lane's: the same steps, but it gives
 * up (undefined, nothing taken) as soon as one would need I/O or refuses, so the route, which
 * runs them again from scratch, decides and answers. No step has another copy anywhere.
 */
export class Admission {
  readonly #steps: readonly AdmissionStep[]
  readonly #checks: readonly AdmissionStep[]
  readonly #takes: readonly AdmissionStep[]
  readonly #onAdmitted: (state: AdmissionState) => void

  constructor(steps: readonly AdmissionStep[], onAdmitted: (state: AdmissionState) => void) {
    this.#steps = steps
    this.#checks = steps.filter((step) => !step.takes)
    this.#takes = steps.filter((step) => step.takes)
    this.#onAdmitted = onAdmitted
  }

  /** Every step, in order, with I/O where needed. Synchronous when no step needed any. */
  admit(request: ApiRequest, io: AdmissionIo): Admitted | Promise<Admitted> {
    const state: AdmissionState = { request }
    for (let i = 0; i < this.#steps.length; i++) {
      const step = this.#steps[i] as AdmissionStep
      let answer: undefined | typeof NEEDS_IO
      try {
        answer = step.now(state)
      } catch (error) {
        this.#undo(state, i)
        throw error
      }
      if (answer === NEEDS_IO) return this.#admitFrom(i, state, io)
    }
    return this.#done(state)
  }

  async #admitFrom(first: number, state: AdmissionState, io: AdmissionIo): Promise<Admitted> {
    let i = first
    try {
      await this.#later(this.#steps[i] as AdmissionStep, state, io)
      for (i = first + 1; i < this.#steps.length; i++) {
        const step = this.#steps[i] as AdmissionStep
        if (step.now(state) === NEEDS_IO) await this.#later(step, state, io)
      }
    } catch (error) {
      this.#undo(state, i)
      throw error
    }
    return this.#done(state)
  }

  async #later(step: AdmissionStep, state: AdmissionState, io: AdmissionIo): Promise<void> {
    if (!step.later) throw new BffError('internal', { detail: `step ${step.name} has no I/O path` })
    await step.later(state, io)
  }

  /** Every check, then every take, none of them with I/O; undefined (nothing taken) otherwise. */
  admitWithoutIo(request: ApiRequest): Admitted | undefined {
    const state: AdmissionState = { request }
    try {
      for (const step of this.#checks) if (step.now(state) === NEEDS_IO) return undefined
    } catch {
      return undefined
    }
    for (let i = 0; i < this.#takes.length; i++) {
      let answer: undefined | typeof NEEDS_IO
      try {
        answer = (this.#takes[i] as AdmissionStep).now(state)
      } catch {
        answer = NEEDS_IO
      }
      if (answer === NEEDS_IO) {
        for (let j = i - 1; j >= 0; j--) this.#takes[j]?.undo?.(state)
        return undefined
      }
    }
    return this.#done(state)
  }

  /** Gives back what the steps before `failed` took. */
  #undo(state: AdmissionState, failed: number): void {
    for (let j = failed - 1; j >= 0; j--) this.#steps[j]?.undo?.(state)
  }

  #done(state: AdmissionState): Admitted {
    this.#onAdmitted(state)
    return admitted(state)
  }
}
