import { describe, expect, it } from 'vitest'
import { rawRequest } from '../support/raw-request.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

/**
 * Paths a URL parser leaves alone but an upstream may resolve outside the mount: Tomcat,
 * Jetty and Spring drop `;params` before resolving dot segments, and frameworks that apply
 * NFKC fold full-width and leader characters into `.` and `/`.
 */
const ESCAPES = [
  // `;params` on a dot segment
  '/api/echo/x/..;/zz',
  '/api/echo/..;x/',
  '/api/echo/%2e%2e;/',
  '/api/echo/x/..;/..;/zz',
  '/api/echo/.;/..;/',
  '/api/echo/..%3b/admin',
  '/api/echo/%2e%2e%3bjsessionid=1/admin',
  // NFKC folding into dots, slashes, backslashes and semicolons
  '/api/echo/%ef%bc%8e%ef%bc%8e/admin',
  '/api/echo/%e2%80%a5/admin',
  '/api/echo/..%ef%bc%8f..%ef%bc%8fadmin',
  '/api/echo/%e2%80%a4%e2%80%a4/admin',
  '/api/echo/%ef%b9%92%ef%b9%92/admin',
  '/api/echo/..%ef%bc%bcadmin',
  '/api/echo/..%ef%b9%a8admin',
  '/api/echo/..%ef%bc%9bx/admin',
  '/api/echo/%ef%bc%8e%ef%bc%8e;x/admin',
  // dot runs some servers trim to `..`
  '/api/echo/.../admin',
  '/api/echo/..%20/admin',
  // overlong and broken UTF-8 (stays refused)
  '/api/echo/%c0%ae%c0%ae/admin',
  '/api/echo/%e0%80%ae%e0%80%ae/admin',
  '/api/echo/%c0%af',
]

describe('Mount escapes an upstream would complete', () => {
  const t = useScriptedBroker()

  it.each(ESCAPES)(
    'refuses %s with 400 invalid_path before any upstream request',
    async (target) => {
      const { browser } = await t.signIn()
      const headers = { cookie: browser.cookieHeaderFor(t.broker.url), 'x-csrf': '1' }
      const response = await rawRequest(t.broker.url, target, headers)
      expect(response.status).toBe(400)
      expect(JSON.parse(response.body)).toMatchObject({ error: 'invalid_path' })
      expect(t.upstream.requests).toHaveLength(0)
    },
  )

  it.each([
    ['/api/echo/orders;v=2/42', '/orders;v=2/42'],
    ['/api/echo/a..b/c.d', '/a..b/c.d'],
    ['/api/echo/caf%C3%A9', '/caf%C3%A9'],
    ['/api/echo/%EF%BC%A1', '/%EF%BC%A1'],
  ])('still forwards the ordinary path %s as %s', async (target, forwarded) => {
    const { browser } = await t.signIn()
    const headers = { cookie: browser.cookieHeaderFor(t.broker.url), 'x-csrf': '1' }
    const response = await rawRequest(t.broker.url, target, headers)
    expect(response.status).toBe(200)
    expect(t.upstream.requests.map((r) => r.url)).toEqual([forwarded])
  })
})
