import type { Context } from 'hono'
import { Hono } from 'hono'
import { BffError, toBffError } from '../errors/bff-error.js'
import { renderErrorPage } from '../errors/render.js'
import { storeCall } from '../errors/store-call.js'
import { providerAnswer } from '../errors/translate.js'
import { escapeHtml, page } from '../lib/html.js'
import { safeEqual } from '../lib/random.js'
import { loginFailureReason } from '../observability/failure-reason.js'
import type { TokenResponse } from '../oidc/client.js'
import { sessionKey } from '../session/session-key.js'
import { tokenSetFrom } from '../session/tokens.js'
import type { LoginTransaction } from '../session/types.js'
import type { RouteDeps } from './deps.js'

const MAX_STATE_LENGTH = 512
/** An ID token minted longer ago than this is refused at the callback (openid-client checks only its type). */
const MAX_ID_TOKEN_AGE_SECONDS = 600

/**
 * The first page after sign-in is a same-site navigation from this 200 page: a Strict
 * session cookie set on a response to the provider's cross-site redirect would not be sent
 * on a 302 that follows it, so the app's first page would load signed out.
 */
function continuePage(returnTo: string): string {
  const target = escapeHtml(returnTo)
  return page(
    'Signing you in…',
    `<p>Signed in. <a href="${target}">Continue</a></p>`,
    `<meta http-equiv="refresh" content="0;url=${target}">`,
  )
}

/**
 * The provider's answers to prompt=none that send the app back with the same word
 * (OIDC Core §3.1.2.6); any other failure of a silent sign-in sends it back with `failed`.
 */
const SILENT_ANSWERS = new Set([
  'login_required',
  'consent_required',
  'interaction_required',
  'account_selection_required',
])

/** The query parameter of the return URL that carries a silent sign-in's outcome. */
export const SILENT_OUTCOME_PARAM = 'silent_login'

/** The provider's expected answer to prompt=none, when that is what ended this sign-in. */
function silentAnswer(err: BffError, params: URLSearchParams): string | undefined {
  const answer = params.get('error')
  return err.code === 'provider_error' && answer && SILENT_ANSWERS.has(answer) ? answer : undefined
}

/** The validated return path with the silent sign-in's outcome added to its query. */
function withSilentOutcome(returnTo: string, outcome: string): string {
  const url = new URL(returnTo, 'http://return.invalid')
  url.searchParams.set(SILENT_OUTCOME_PARAM, outcome)
  return `${url.pathname}${url.search}${url.hash}`
}

function pickClaims(claims: Record<string, unknown>, allowed: readonly string[]) {
  return Object.fromEntries(
    allowed.filter((name) => name in claims).map((name) => [name, claims[name]]),
  )
}

/** GET /auth/callback — consumes the transaction, redeems the code, starts a new session. */
export function callbackRoute(deps: RouteDeps): Hono {
  const app = new Hono()

  async function consumeTransaction(
    c: Context,
    params: URLSearchParams,
  ): Promise<{ state: string; tx: LoginTransaction }> {
    const states = params.getAll('state')
    const state = states[0]
    if (states.length !== 1 || !state || state.length > MAX_STATE_LENGTH) {
      throw new BffError('login_state_mismatch', { detail: 'state missing, repeated or oversized' })
    }
    const binding = deps.txCookie.bindingHash(c, state)
    deps.txCookie.clear(c, state)
    // Consumed before any check, so a state can never be used twice, whatever fails next.
    const tx = await storeCall('take transaction', () =>
      deps.stores.transactions.takeTransaction(state),
    )
    if (!tx) throw new BffError('login_state_mismatch', { detail: 'no live transaction for state' })
    if (!binding || !safeEqual(binding, tx.bindingHash)) {
      throw new BffError('login_state_mismatch', {
        detail: 'transaction belongs to another browser',
      })
    }
    return { state, tx }
  }

  function providerError(params: URLSearchParams): BffError {
    const code = (params.get('error') ?? 'error').slice(0, 64)
    const description = params.get('error_description')?.slice(0, 200)
    return new BffError('provider_error', {
      message: `The identity provider did not complete the sign-in (${code})${description ? `: ${description}` : '.'}`,
      detail: `provider error ${code}`,
    })
  }

  function checkIssuedAt(tokens: TokenResponse) {
    const iat = tokens.claims()?.iat
    // Same time base as openid-client's own exp/iat checks (the system clock), not the session clock.
    const now = Date.now() / 1000
    if (typeof iat !== 'number' || iat < now - MAX_ID_TOKEN_AGE_SECONDS) {
      throw new BffError('login_failed', { detail: 'ID token iat missing or too old' })
    }
  }

  /** Destroys sessions this browser held before (fixation); a failure is logged, not fatal. */
  async function destroyPrevious(c: Context, tx: LoginTransaction) {
    const raw = deps.cookie.raw(c)
    const sid = raw ? await deps.cookie.unseal(raw) : null
    const keys = new Set(
      [tx.previousSessionKey, sid ? sessionKey(sid) : undefined].filter(Boolean) as string[],
    )
    for (const key of keys) {
      const ended = await deps.sessions.delete(key).catch((error: unknown) => {
        deps.logger.warn(
          { event: 'login.previous_session_not_deleted', detail: String(error) },
          'old session kept',
        )
        return null
      })
      if (ended) deps.metrics.sessionEnded('replaced')
    }
  }

  app.get('/auth/callback', async (c) => {
    const requestUrl = new URL(c.req.url)
    const params = requestUrl.searchParams
    let silentTx: LoginTransaction | undefined
    try {
      const { state, tx } = await consumeTransaction(c, params)
      if (tx.demands?.silent) silentTx = tx
      if (params.has('error')) throw providerError(params)
      // redirect_uri comes from configuration only; Host or X-Forwarded-Host never shape it.
      const callbackUrl = new URL(deps.oidc.redirectUri)
      callbackUrl.search = requestUrl.search
      const dpopKey = await deps.oidc.signInDpopKey()
      const tokens = await deps.oidc.redeemCode(callbackUrl, {
        state,
        nonce: tx.nonce,
        codeVerifier: tx.codeVerifier,
        ...(tx.demands && { demands: tx.demands }),
        dpopKey,
      })
      checkIssuedAt(tokens)
      const claims = tokens.claims()
      if (!claims) throw new BffError('login_failed', { detail: 'no ID token' })
      const { sid } = await deps.sessions.create({
        iss: claims.iss,
        sub: claims.sub,
        ...(typeof claims.sid === 'string' ? { sid: claims.sid } : {}),
        claims: pickClaims(claims, deps.config.userClaims),
        ...(typeof claims.auth_time === 'number' && { authTime: claims.auth_time }),
        ...(typeof claims.acr === 'string' && { acr: claims.acr }),
        tokens: {
          ...tokenSetFrom(tokens, deps.clock.now(), deps.config.defaultAccessTokenLifetimeSeconds),
          ...(dpopKey && { dpopKey }),
        },
      })
      await destroyPrevious(c, tx)
      await deps.cookie.set(c, sid)
      deps.metrics.sessionsCreated.inc()
      deps.metrics.loginsCompleted.inc()
      deps.logger.info(
        { event: 'login.completed', requestId: c.get('requestId') },
        'sign-in completed',
      )
      if (!silentTx) return c.html(continuePage(tx.returnTo), 200)
      deps.metrics.silentLogins.inc({ outcome: 'signed_in' })
      return c.html(continuePage(withSilentOutcome(tx.returnTo, 'signed_in')), 200)
    } catch (error) {
      const err = toBffError(error)
      const outcome = silentTx && silentAnswer(err, params)
      if (silentTx && outcome) {
        // The provider's expected answer to prompt=none (not signed in there, or it needs the
        // user): the app's to act on, not a failed sign-in.
        deps.metrics.silentLogins.inc({ outcome })
        deps.logger.info(
          { event: 'login.silent_outcome', outcome, requestId: c.get('requestId') },
          'silent sign-in answered',
        )
        return c.redirect(withSilentOutcome(silentTx.returnTo, outcome), 302)
      }
      const reason = loginFailureReason(err)
      deps.metrics.loginFailures.inc({ stage: 'callback', reason })
      deps.logger.warn(
        {
          event: 'login.callback_failed',
          reason,
          code: err.code,
          detail: err.detail,
          ...providerAnswer(err),
          requestId: c.get('requestId'),
        },
        'sign-in callback refused',
      )
      if (silentTx) {
        deps.metrics.silentLogins.inc({ outcome: 'failed' })
        return c.redirect(withSilentOutcome(silentTx.returnTo, 'failed'), 302)
      }
      return renderErrorPage(c, err)
    }
  })
  return app
}
