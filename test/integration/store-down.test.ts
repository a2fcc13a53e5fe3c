import { sealData } from 'iron-session'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Bff, createBff } from '../../src/app.js'
import { randomId } from '../../src/lib/random.js'
import { createLogger } from '../../src/observability/logger.js'
import { RedisSessionStore } from '../../src/store/redis-session-store.js'
import { freePort } from '../support/free-port.js'
import { forgeLogoutToken } from '../support/logout-token.js'
import { type ScriptedProvider, startScriptedProvider } from '../support/scripted-provider.js'

/* Fail closed: with the store unreachable, answers are 503 + Retry-After, never 500, never a logout. */
describe('when Redis cannot be reached', () => {
  let provider: ScriptedProvider
  let bff: Bff
  const secret = `test-only-${randomId(24)}`

  beforeAll(async () => {
    provider = await startScriptedProvider({ clientId: 'c' })
    const deadPort = await freePort()
    bff = createBff(
      {
        publicUrl: 'http://127.0.0.1:3999',
        issuer: provider.issuer,
        clientId: 'c',
        clientSecret: 's',
        dangerouslyAllowHttpIssuer: true,
        cookieSecrets: [{ id: 1, secret }],
        apiRoutes: [{ prefix: '/api/x', upstream: 'http://127.0.0.1:1' }],
      },
      {
        logger: createLogger('silent'),
        store: new RedisSessionStore({
          url: `redis://127.0.0.1:${deadPort}`,
          keyPrefix: 'down:',
          commandTimeoutMs: 200,
        }),
      },
    )
  })
  afterAll(async () => {
    await bff?.close()
    await provider?.stop()
  })

  async function sessionCookie() {
    return `__Host-bff-session=${await sealData({ sid: randomId() }, { password: { 1: secret } })}`
  }

  it('answers /auth/user with 503 store_unavailable and keeps the cookie', async () => {
    const response = await bff.app.request('/auth/user', {
      headers: { cookie: await sessionCookie() },
    })
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBeTruthy()
    expect(await response.json()).toMatchObject({ error: 'store_unavailable' })
    expect(response.headers.getSetCookie()).toEqual([])
  })

  it('answers /api with 503 and proxies nothing', async () => {
    const response = await bff.app.request('/api/x/y', {
      headers: { cookie: await sessionCookie(), 'x-csrf': '1' },
    })
    expect(response.status).toBe(503)
    expect(response.headers.getSetCookie()).toEqual([])
  })

  it('answers /auth/login with a 503 page and no transaction cookie', async () => {
    const response = await bff.app.request('/auth/login')
    expect(response.status).toBe(503)
    expect(await response.text()).toContain('store_unavailable')
    expect(response.headers.getSetCookie()).toEqual([])
  })

  it('answers a genuine back-channel logout with 503 store_unavailable, so the provider retries', async () => {
    const response = await bff.app.request('/auth/backchannel-logout', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: await forgeLogoutToken(provider, 'c') }),
    })
    expect(response.status).toBe(503)
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(await response.json()).toMatchObject({ error: 'store_unavailable' })
  })

  it('counts the failed store operations in the metrics', async () => {
    await bff.app.request('/auth/user', { headers: { cookie: await sessionCookie() } })
    const text = await bff.metrics.registry.getSingleMetricAsString('bff_store_errors_total')
    expect(text).toMatch(/bff_store_errors_total\{operation="getSession"\} [1-9]/)
  })

  it('reports not ready', async () => {
    const response = await bff.app.request('/readyz')
    expect(response.status).toBe(503)
    expect(await response.json()).toMatchObject({ store: 'unavailable', provider: 'ok' })
    expect(response.headers.get('retry-after')).toBeTruthy()
  })
})
