import { describe, expect, it } from 'vitest'
import { createBff } from '../../src/app.js'
import type { BffOptions } from '../../src/config/schema.js'
import { BffError } from '../../src/errors/bff-error.js'
import { systemClock } from '../../src/lib/clock.js'
import { randomId } from '../../src/lib/random.js'
import { createLogger } from '../../src/observability/logger.js'
import { MemorySessionStore } from '../../src/store/memory-session-store.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

/*
 * The client check: one refresh grant with a made-up token at start and in readiness. A good
 * client gets invalid_grant from the provider, a refused one invalid_client.
 */
describe('checking the client credentials without a user', () => {
  const t = useScriptedBroker()
  const checks = () => t.provider.clientChecks

  function broker(checkClient = true, more: Partial<BffOptions> = {}) {
    return createBff(
      {
        publicUrl: 'http://127.0.0.1:3999',
        issuer: t.provider.issuer,
        clientId: 'bff-client',
        clientSecret: 'scripted-secret',
        dangerouslyAllowHttpIssuer: true,
        cookieSecrets: [{ id: 1, secret: `test-only-${randomId(24)}` }],
        checkClient,
        ...more,
      },
      { logger: createLogger('silent'), store: new MemorySessionStore(systemClock) },
    )
  }

  it('is ready with a client the provider accepts, and says so in /readyz', async () => {
    const bff = broker()
    try {
      await bff.ready()
      const readyz = await bff.app.request('/readyz')
      expect(readyz.status).toBe(200)
      expect(await readyz.json()).toMatchObject({ status: 'ready', client: 'ok' })
      // Checked once, not per readiness probe.
      await bff.app.request('/readyz')
      expect(checks()).toHaveLength(1)
    } finally {
      await bff.close()
    }
  })

  it('refuses readiness, naming the setting, when the provider refuses the client', async () => {
    t.provider.script.tokenRefusal = () => ({
      status: 401,
      body: '{"error":"invalid_client","error_description":"client authentication failed"}',
    })
    const bff = broker()
    try {
      const failure = await bff.ready().then(
        () => undefined,
        (error: unknown) => error,
      )
      expect(failure).toBeInstanceOf(BffError)
      expect(failure).toMatchObject({
        code: 'provider_rejected_client',
        detail:
          'OIDC_CLIENT_SECRET: the provider refused the client bff-client (invalid_client: client authentication failed)',
      })
      const readyz = await bff.app.request('/readyz')
      expect(readyz.status).toBe(503)
      expect(await readyz.json()).toMatchObject({ status: 'not_ready', client: 'rejected' })
    } finally {
      await bff.close()
    }
  })

  it.each([
    ['an empty 400, which tells neither', { status: 400, body: '', contentType: 'text/plain' }],
    // Auth0 has been reported to answer a wrong secret with access_denied.
    [
      'another error, maybe a refused client in other words',
      { status: 403, body: '{"error":"access_denied","error_description":"Unauthorized"}' },
    ],
  ])('is ready, unverified, for %s', async (_, answer) => {
    t.provider.script.tokenRefusal = () => answer
    const bff = broker()
    try {
      await bff.ready()
      expect(await (await bff.app.request('/readyz')).json()).toMatchObject({
        status: 'ready',
        client: 'unverified',
      })
    } finally {
      await bff.close()
    }
  })

  it('sends OIDC_REFRESH_PARAMS with the check, as with every refresh', async () => {
    const bff = broker(true, { refreshParams: { scope: 'openid api://reports/.default' } })
    try {
      await bff.ready()
      expect(checks()).toHaveLength(1)
      expect(checks()[0]?.params.get('scope')).toBe('openid api://reports/.default')
    } finally {
      await bff.close()
    }
  })

  it('makes no call with OIDC_CHECK_CLIENT=false', async () => {
    const bff = broker(false)
    try {
      await bff.ready()
      expect(await (await bff.app.request('/readyz')).json()).toMatchObject({ client: 'unchecked' })
      expect(checks()).toHaveLength(0)
    } finally {
      await bff.close()
    }
  })
})
