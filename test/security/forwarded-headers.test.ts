import { describe, expect, it } from 'vitest'
import { rawRequest } from '../support/raw-request.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

/** Headers upstreams behind auth proxies commonly trust: none may arrive through the broker. */
const TRUSTED_BY_UPSTREAMS = [
  'x-original-url',
  'x-rewrite-url',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'true-client-ip',
  'x-client-ip',
  'cf-connecting-ip',
  'client-ip',
  'x-cluster-client-ip',
  'fastly-client-ip',
  'x-original-forwarded-for',
  'via',
  'x-remote-user',
  'x-user',
  'remote-user',
  'x-auth-request-user',
  'x-auth-request-email',
  'x-id-token',
  'x-userinfo',
  'x-anything-else',
  'x-tenant-id',
  // A proof of the browser's own making, beside the broker's token (RFC 9449).
  'dpop',
]

const HARMLESS = {
  accept: 'application/json',
  'accept-language': 'de-CH',
  'if-none-match': '"v1"',
  range: 'bytes=0-10',
  'user-agent': 'test-agent/1',
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  'idempotency-key': 'k-42',
}

describe('Forwarding request headers by allow-list', () => {
  const t = useScriptedBroker()

  async function send(target: string, method: string, extra: Record<string, string>) {
    const { browser } = await t.signIn()
    const attack = Object.fromEntries(TRUSTED_BY_UPSTREAMS.map((name) => [name, 'attacker']))
    const headers = {
      ...attack,
      ...HARMLESS,
      ...extra,
      cookie: browser.cookieHeaderFor(t.broker.url),
      'x-csrf': '1',
    }
    const body = method === 'POST' ? '{"a":1}' : undefined
    if (body) Object.assign(headers, { 'content-type': 'application/json' })
    const response = await rawRequest(t.broker.url, target, headers, method, body)
    expect(response.status).toBe(200)
    const seen = t.upstream.requests.at(-1)
    if (!seen) throw new Error('nothing reached the upstream')
    return seen
  }

  it.each([
    ['GET', '/api/echo/x'],
    ['POST', '/api/echo/x'],
    ['HEAD', '/api/echo/x'],
    ['POST', '/api/echo-stream/x'],
  ])(
    '%s %s: no identity, override or unlisted header reaches the upstream',
    async (method, target) => {
      const seen = await send(target, method, {})
      for (const name of TRUSTED_BY_UPSTREAMS) expect(seen.headers[name], name).toBeUndefined()
      expect(seen.headers).toMatchObject(HARMLESS)
      expect(seen.headers.authorization).toMatch(/^Bearer /)
      expect(seen.headers['x-request-id']).toMatch(/^[A-Za-z0-9_-]+$/)
    },
  )

  it('forwards a route’s own extra header to that route only', async () => {
    expect((await send('/api/echo-tenant/x', 'GET', {})).headers['x-tenant-id']).toBe('attacker')
    expect((await send('/api/echo/x', 'GET', {})).headers['x-tenant-id']).toBeUndefined()
  })

  it('drops an allowed header that Connection names (hop-by-hop by declaration)', async () => {
    const seen = await send('/api/echo/x', 'GET', { connection: 'keep-alive, accept-language' })
    expect(seen.headers['accept-language']).toBeUndefined()
    expect(seen.headers.accept).toBe('application/json')
  })

  it('sends the body’s length itself, whatever the client declared or how it was framed', async () => {
    const { browser } = await t.signIn()
    const response = await rawRequest(
      t.broker.url,
      '/api/echo/x',
      {
        cookie: browser.cookieHeaderFor(t.broker.url),
        'x-csrf': '1',
        'transfer-encoding': 'chunked',
        'content-type': 'text/plain',
      },
      'POST',
      'hello',
    )
    expect(response.status).toBe(200)
    const seen = t.upstream.requests.at(-1)
    expect(seen?.headers['content-length']).toBe('5')
    expect(seen?.headers['transfer-encoding']).toBeUndefined()
    expect(seen?.body).toBe('hello')
  })
})
