import { Hono } from 'hono'
import * as oidc from 'openid-client'
import { BffError, toBffError } from '../errors/bff-error.js'
import { renderErrorPage } from '../errors/render.js'
import { storeCall } from '../errors/store-call.js'
import { validateReturnTo } from '../lib/return-to.js'
import { allowedDemands, loginDemandsFrom } from '../oidc/login-demands.js'
import { sessionKey } from '../session/session-key.js'
import { TRANSACTION_TTL_SECONDS } from '../session/transaction-cookie.js'
import type { LoginTransaction } from '../session/types.js'
import type { RouteDeps } from './deps.js'

/**
 * GET /auth/login?returnTo=/path — starts a sign-in: PKCE, state, nonce, one transaction per
 * state. A step-up adds `acr_values` and/or `max_age` from the allow-list; a silent sign-in
 * adds `prompt=none` (login-demands.ts).
 */
export function loginRoute(deps: RouteDeps): Hono {
  const app = new Hono()
  const allowed = allowedDemands(deps.config)
  app.get('/auth/login', async (c) => {
    try {
      const returnTo = validateReturnTo(c.req.query('returnTo'), deps.publicOrigin)
      if (returnTo === null) throw new BffError('invalid_return_to')
      const demands = loginDemandsFrom(new URL(c.req.url).searchParams, allowed)
      const asked = Object.keys(demands).length > 0
      const state = oidc.randomState()
      const nonce = oidc.randomNonce()
      const codeVerifier = oidc.randomPKCECodeVerifier()
      const url = await deps.oidc.authorizationUrl({
        state,
        nonce,
        codeChallenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
        demands,
      })
      const now = deps.clock.now()
      const binding = deps.txCookie.newBinding(now)
      const tx: LoginTransaction = {
        codeVerifier,
        nonce,
        returnTo,
        bindingHash: binding.hash,
        createdAt: now,
        ...(await previousSessionKey()),
        ...(asked && { demands }),
      }
      await storeCall('put transaction', () =>
        deps.stores.transactions.putTransaction(state, tx, TRANSACTION_TTL_SECONDS * 1000),
      )
      deps.txCookie.set(c, state, binding.value)
      deps.metrics.loginsStarted.inc()
      deps.logger.info(
        { event: 'login.started', ...(asked && { demands }), requestId: c.get('requestId') },
        'sign-in started',
      )
      return c.redirect(url.href, 302)
    } catch (error) {
      const err = toBffError(error)
      deps.metrics.loginFailures.inc({ stage: 'login', reason: err.code })
      deps.logger.warn(
        { event: 'login.failed', code: err.code, detail: err.detail },
        'sign-in could not start',
      )
      return renderErrorPage(c, err)
    }

    /** A session this browser already holds is destroyed once the new one exists (fixation). */
    async function previousSessionKey(): Promise<{ previousSessionKey?: string }> {
      const raw = deps.cookie.raw(c)
      const sid = raw ? await deps.cookie.unseal(raw) : null
      return sid ? { previousSessionKey: sessionKey(sid) } : {}
    }
  })
  return app
}
