import { describe, expect, it } from 'vitest'
import { useScriptedBroker } from '../support/scripted-broker.js'
import type { IdTokenPlan } from '../support/scripted-provider.js'

const now = () => Math.floor(Date.now() / 1000)

/*
 * Each row is an ID token a hostile or broken provider might return at the callback.
 * The broker must refuse it with the readable error page and store nothing.
 */
const hostile: [string, IdTokenPlan][] = [
  ['alg none', { sign: 'none' }],
  ['HS256 signed with the provider public key', { sign: 'hs256-with-public-key' }],
  ['a signature by another key under the same kid', { sign: 'rs256-wrong-key' }],
  ['a garbage signature', { sign: 'garbage-signature' }],
  ['an RS384 header over an RS256 signature', { header: (h) => ({ ...h, alg: 'RS384' }) }],
  ['an unknown kid', { header: (h) => ({ ...h, kid: 'no-such-key' }) }],
  [
    'a jku header pointing elsewhere and a bad signature',
    { sign: 'rs256-wrong-key', header: (h) => ({ ...h, jku: 'http://evil.test/jwks' }) },
  ],
  ['the wrong nonce', { claims: (c) => ({ ...c, nonce: 'not-the-nonce' }) }],
  ['no nonce', { claims: ({ nonce: _n, ...c }) => c }],
  ['the wrong audience', { claims: (c) => ({ ...c, aud: 'someone-else' }) }],
  ['an untrusted extra audience', { claims: (c) => ({ ...c, aud: [c.aud, 'someone-else'] }) }],
  ['azp naming another client', { claims: (c) => ({ ...c, aud: [c.aud, 'other'], azp: 'other' }) }],
  ['the wrong issuer', { claims: (c) => ({ ...c, iss: 'http://evil.test' }) }],
  ['an expiry in the past', { claims: (c) => ({ ...c, exp: now() - 120 }) }],
  ['no expiry', { claims: ({ exp: _e, ...c }) => c }],
  ['no iat', { claims: ({ iat: _i, ...c }) => c }],
  ['an iat a week old', { claims: (c) => ({ ...c, iat: now() - 7 * 86400 }) }],
  ['no sub', { claims: ({ sub: _s, ...c }) => c }],
]

describe('ID token validation at the callback', () => {
  const t = useScriptedBroker()

  it('accepts the well-formed default token (control)', async () => {
    const { browser, response } = await t.signIn()
    expect(response.status).toBe(200)
    expect(browser.cookie('__Host-bff-session')).toBeDefined()
  })

  it.each(hostile)('refuses %s and stores nothing', async (_name, plan) => {
    const before = await t.sessionKeys()
    t.provider.script.idToken = plan
    const { browser, response } = await t.signIn()
    expect(response.status).toBe(400)
    const html = await response.text()
    expect(html).toContain('login_failed')
    expect(html).not.toMatch(/at .*\.(ts|js):\d+/)
    expect(browser.cookie('__Host-bff-session')).toBeUndefined()
    expect(await t.sessionKeys()).toEqual(before)
    expect(t.provider.calls.userinfo).toBe(0)
  })

  it('refuses an ID token missing from the token response', async () => {
    t.provider.script.tokenResponse = ({ id_token: _id, ...rest }) => rest
    const { browser, response } = await t.signIn()
    expect(response.status).toBe(400)
    expect(browser.cookie('__Host-bff-session')).toBeUndefined()
  })

  it('answers a provider token endpoint outage with 503 and Retry-After, not 500', async () => {
    t.provider.script.tokenResponse = () => ({
      status: 502,
      body: '<html>bad gateway</html>',
      contentType: 'text/html',
    })
    const { response } = await t.signIn()
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBeTruthy()
  })
})
