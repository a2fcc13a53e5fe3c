import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { reserveBrokerUrl, startBroker, type TestBroker } from '../support/broker.js'
import { HttpBrowser } from '../support/http-browser.js'
import { type ScriptedProvider, startScriptedProvider } from '../support/scripted-provider.js'

/* createBff inside an existing Hono app: the broker's routes plus local routes behind requireSession. */
describe('createBff as a library', () => {
  let provider: ScriptedProvider
  let broker: TestBroker

  beforeAll(async () => {
    provider = await startScriptedProvider({ clientId: 'lib-client' })
    const address = await reserveBrokerUrl()
    broker = await startBroker(
      address,
      { issuer: provider.issuer, clientId: 'lib-client', clientSecret: 'lib-secret' },
      {},
      (bff) => {
        const host = new Hono()
        host.get('/', (c) => c.text('host app home'))
        host.route('/', bff.app)
        host.get('/local/me', bff.requireSession(), async (c) => {
          const token = await c.var.bff.accessToken()
          return c.json({
            sub: c.var.bff.sub,
            name: c.var.bff.claims.name,
            tokenLength: token.length,
          })
        })
        return host
      },
    )
  })

  afterAll(async () => {
    await broker?.stop()
    await provider?.stop()
  })

  it('exposes claims and a fresh access token to local routes', async () => {
    const browser = new HttpBrowser()
    const response = await browser.follow(`${broker.url}/auth/login`, { initiator: broker.url })
    expect(response.status).toBe(200)
    const me = await browser.request(`${broker.url}/local/me`, {
      initiator: broker.url,
      kind: 'fetch',
    })
    expect(me.status).toBe(200)
    const body = await me.json()
    expect(body).toMatchObject({ sub: 'user-1' })
    expect(body.tokenLength).toBeGreaterThan(10)
  })

  it('answers local routes without a session with 401 JSON', async () => {
    const response = await new HttpBrowser().request(`${broker.url}/local/me`)
    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ error: 'unauthenticated' })
  })

  it("leaves the host app's own routes alone", async () => {
    const response = await new HttpBrowser().request(`${broker.url}/`)
    expect(await response.text()).toBe('host app home')
  })
})
