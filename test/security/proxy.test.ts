import { request } from 'node:http'
import { describe, expect, it } from 'vitest'
import { useScriptedBroker } from '../support/scripted-broker.js'

/** Sends a raw request target (fetch would normalise the path before we could attack with it). */
function rawRequest(base: string, target: string, headers: Record<string, string>, method = 'GET') {
  const url = new URL(base)
  return new Promise<{ status: number; body: string; headers: Record<string, unknown> }>(
    (resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, method, path: target, headers },
        (res) => {
          let body = ''
          res.on('data', (chunk) => {
            body += chunk
          })
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
        },
      )
      req.on('error', reject)
      req.end()
    },
  )
}

describe('API proxy trust boundary', () => {
  const t = useScriptedBroker({ upstreamTimeoutSeconds: 1 })

  async function session() {
    const { browser } = await t.signIn()
    return { browser, headers: { cookie: browser.cookieHeaderFor(t.broker.url), 'x-csrf': '1' } }
  }

  it.each([
    '/api/echo/..%2f..%2fadmin',
    '/api/echo/%252e%252e/admin',
    '/api/echo/a%2fb',
    '/api/echo/a%5cb',
    '/api/echo//evil.example/x',
  ])('refuses the path escape %s before reaching the upstream', async (target) => {
    const { headers } = await session()
    const response = await rawRequest(t.broker.url, target, headers)
    expect(response.status).toBe(400)
    expect(JSON.parse(response.body)).toMatchObject({ error: 'invalid_path' })
    expect(t.upstream.requests).toHaveLength(0)
  })

  it.each(['/api/echo/../../auth/user', '/api/echo/%2e%2e/%2e%2e/admin', '/api/echo/..\\..\\auth'])(
    'never forwards %s outside the mount',
    async (target) => {
      const { headers } = await session()
      await rawRequest(t.broker.url, target, headers)
      expect(t.upstream.requests).toHaveLength(0)
    },
  )

  it('answers an unknown prefix with 404', async () => {
    const { headers } = await session()
    expect((await rawRequest(t.broker.url, '/api/nope/x', headers)).status).toBe(404)
  })

  it('answers without a session with 401 JSON, never a redirect', async () => {
    const response = await rawRequest(t.broker.url, '/api/echo/x', { 'x-csrf': '1' })
    expect(response.status).toBe(401)
    expect(response.headers.location).toBeUndefined()
    expect(JSON.parse(response.body)).toMatchObject({ error: 'unauthenticated' })
  })

  it('replaces client credentials and forwarding headers, and drops upstream cookies', async () => {
    const { headers } = await session()
    const response = await rawRequest(t.broker.url, '/api/echo/headers', {
      ...headers,
      authorization: 'Bearer attacker-token',
      'x-forwarded-host': 'evil.test',
      'x-forwarded-for': '6.6.6.6',
      'x-real-ip': '6.6.6.6',
      forwarded: 'for=6.6.6.6',
      connection: 'keep-alive, Authorization',
    })
    expect(response.status).toBe(200)
    expect(response.headers['set-cookie']).toBeUndefined()
    expect(response.headers['x-content-type-options']).toBe('nosniff')
    expect(response.headers['x-frame-options']).toBe('DENY')
    expect(response.headers['cache-control']).toBe('no-store')
    const seen = t.upstream.requests[0]
    expect(seen?.headers.authorization).toMatch(/^Bearer /)
    expect(seen?.headers.authorization).not.toBe('Bearer attacker-token')
    expect(seen?.headers.cookie).toBeUndefined()
    expect(seen?.headers['x-csrf']).toBeUndefined()
    expect(seen?.headers['x-forwarded-host']).toBeUndefined()
    expect(seen?.headers['x-forwarded-for']).toBeUndefined()
    expect(seen?.headers['x-real-ip']).toBeUndefined()
    expect(seen?.headers.forwarded).toBeUndefined()
  })

  it('refuses TRACE', async () => {
    const { headers } = await session()
    expect((await rawRequest(t.broker.url, '/api/echo/x', headers, 'TRACE')).status).toBe(405)
    expect(t.upstream.requests).toHaveLength(0)
  })

  it('does not follow an upstream redirect to another host', async () => {
    const { browser } = await session()
    t.upstream.handler = (_req, res) => {
      res.writeHead(302, { location: 'http://evil.test/steal' }).end()
      return true
    }
    const response = await t.apiCall(browser, '/api/echo/redirect')
    expect(response.status).toBe(302)
    expect(t.upstream.requests).toHaveLength(1)
  })

  it('keeps an upstream 401 a 401 (never a login redirect)', async () => {
    const { browser } = await session()
    t.upstream.handler = (_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_token"}')
      return true
    }
    const response = await t.apiCall(browser, '/api/echo/x')
    expect(response.status).toBe(401)
    expect(response.headers.get('location')).toBeNull()
  })

  it('answers 504 when the upstream does not answer in time, and 502 when it is down', async () => {
    const { browser } = await session()
    t.upstream.handler = () => true // never answers
    const timedOut = await t.apiCall(browser, '/api/echo/slow')
    expect(timedOut.status).toBe(504)
    expect(await timedOut.json()).toMatchObject({ error: 'upstream_timeout' })
    const down = await t.apiCall(browser, '/api/down/x')
    expect(down.status).toBe(502)
    expect(await down.json()).toMatchObject({ error: 'upstream_unavailable' })
  })
})
