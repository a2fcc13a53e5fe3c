import { Writable } from 'node:stream'
import { generateKeyPair } from 'jose'
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../src/observability/logger.js'
import { storedSessionOf } from '../support/broker.js'
import { storeFailingAt } from '../support/failing-store.js'
import type { HttpBrowser } from '../support/http-browser.js'
import {
  forgeLogoutToken,
  LOGOUT_EVENT,
  type LogoutTokenPlan,
  postLogoutToken,
} from '../support/logout-token.js'
import { useScriptedBroker } from '../support/scripted-broker.js'
import { until } from '../support/until.js'

const logLines: string[] = []
const logSink = new Writable({
  write(chunk, _encoding, done) {
    logLines.push(String(chunk))
    done()
  },
})

const now = () => Math.floor(Date.now() / 1000)

describe('back-channel logout with forged and genuine logout tokens', () => {
  const t = useScriptedBroker({}, { logger: createLogger('info', logSink) })
  const forge = (plan: LogoutTokenPlan = {}) => forgeLogoutToken(t.provider, 'bff-client', plan)
  const userStatus = async (browser: HttpBrowser) => (await t.apiCall(browser, '/auth/user')).status

  it('ends the session named by sid and answers 200 with no-store', async () => {
    const { browser } = await t.signIn()
    const { session } = await storedSessionOf(t.broker, browser.cookie('__Host-bff-session')?.value)
    const response = await postLogoutToken(t.broker.url, await forge())
    expect(response.status).toBe(200)
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(await userStatus(browser)).toBe(401)
    await until(() => t.provider.revokedTokens.length >= 2, 'revocation')
    expect(t.provider.revokedTokens).toEqual(
      expect.arrayContaining([session?.tokens.refreshToken, session?.tokens.accessToken]),
    )
  })

  it.each<[string, LogoutTokenPlan['header']]>([
    ['typ logout+jwt', undefined],
    ['typ JWT', (h) => ({ ...h, typ: 'JWT' })],
    ['no typ', ({ typ: _typ, ...h }) => h],
  ])('accepts a genuine token with %s', async (_name, header) => {
    const { browser } = await t.signIn()
    const response = await postLogoutToken(t.broker.url, await forge(header ? { header } : {}))
    expect(response.status).toBe(200)
    expect(await userStatus(browser)).toBe(401)
  })

  it('ends every session of the user when the token names only sub', async () => {
    const { browser: first } = await t.signIn()
    const { browser: second } = await t.signIn()
    const response = await postLogoutToken(
      t.broker.url,
      await forge({ claims: ({ sid: _sid, ...c }) => c }),
    )
    expect(response.status).toBe(200)
    expect(await userStatus(first)).toBe(401)
    expect(await userStatus(second)).toBe(401)
  })

  it('ends only sessions of that provider session when the token names sid', async () => {
    const { browser: sid1 } = await t.signIn()
    t.provider.script.idToken = { claims: (c) => ({ ...c, sid: 'sid-2' }) }
    const { browser: sid2 } = await t.signIn()
    expect((await postLogoutToken(t.broker.url, await forge())).status).toBe(200)
    expect(await userStatus(sid1)).toBe(401)
    expect(await userStatus(sid2)).toBe(200)
  })

  it('answers 200 and ends nothing when sid and sub name different users', async () => {
    const { browser } = await t.signIn()
    const token = await forge({ claims: (c) => ({ ...c, sub: 'user-2' }) })
    expect((await postLogoutToken(t.broker.url, token)).status).toBe(200)
    expect(await userStatus(browser)).toBe(200)
  })

  it('answers 200 when no session matches', async () => {
    const token = await forge({ claims: (c) => ({ ...c, sid: 'nobody', sub: 'nobody' }) })
    expect((await postLogoutToken(t.broker.url, token)).status).toBe(200)
  })

  it('refuses a replayed jti and keeps the session started since', async () => {
    await t.signIn()
    const token = await forge()
    expect((await postLogoutToken(t.broker.url, token)).status).toBe(200)
    const { browser } = await t.signIn()
    const replay = await postLogoutToken(t.broker.url, token)
    expect(replay.status).toBe(400)
    expect(await replay.json()).toMatchObject({ error: 'invalid_token' })
    expect(await userStatus(browser)).toBe(200)
  })

  it.each<[string, () => Promise<LogoutTokenPlan>]>([
    ['signed by a key the provider does not publish', async () => ({ sign: 'rogue' })],
    ['with alg none', async () => ({ sign: 'none' })],
    ['signed HS256 with the provider public key', async () => ({ sign: 'hs256-with-public-key' })],
    [
      'signed with an algorithm outside the allow-list (RS384)',
      async () => ({
        key: (await generateKeyPair('RS384')).privateKey,
        header: (h) => ({ ...h, alg: 'RS384' }),
      }),
    ],
    ['with an unknown kid', async () => ({ sign: 'rogue', header: (h) => ({ ...h, kid: 'x' }) })],
    ['for another audience', async () => ({ claims: (c) => ({ ...c, aud: 'other-client' }) })],
    ['from another issuer', async () => ({ claims: (c) => ({ ...c, iss: 'https://evil.test' }) })],
    ['with a nonce', async () => ({ claims: (c) => ({ ...c, nonce: 'n-1' }) })],
    ['without events', async () => ({ claims: ({ events: _e, ...c }) => c })],
    [
      'with events lacking the back-channel logout event',
      async () => ({ claims: (c) => ({ ...c, events: { 'urn:other': {} } }) }),
    ],
    [
      'with the back-channel logout event not an object',
      async () => ({ claims: (c) => ({ ...c, events: { [LOGOUT_EVENT]: true } }) }),
    ],
    ['with events as a list', async () => ({ claims: (c) => ({ ...c, events: [LOGOUT_EVENT] }) })],
    ['expired', async () => ({ claims: (c) => ({ ...c, exp: now() - 120 }) })],
    ['issued 10 minutes ago', async () => ({ claims: (c) => ({ ...c, iat: now() - 600 }) })],
    ['issued in the future', async () => ({ claims: (c) => ({ ...c, iat: now() + 300 }) })],
    ['without iat', async () => ({ claims: ({ iat: _i, ...c }) => c })],
    ['without jti', async () => ({ claims: ({ jti: _j, ...c }) => c })],
    ['without sid and sub', async () => ({ claims: ({ sid: _s, sub: _u, ...c }) => c })],
    ['with a sid that is not a string', async () => ({ claims: (c) => ({ ...c, sid: 1 }) })],
    ['typed as an access token', async () => ({ header: (h) => ({ ...h, typ: 'at+jwt' }) })],
  ])('refuses a token %s with 400 invalid_token and keeps the session', async (_name, plan) => {
    const { browser } = await t.signIn()
    const response = await postLogoutToken(t.broker.url, await forge(await plan()))
    expect(response.status).toBe(400)
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(await response.json()).toMatchObject({
      error: 'invalid_token',
      message: expect.any(String),
    })
    expect(await userStatus(browser)).toBe(200)
  })

  it.each<[string, RequestInit]>([
    ['no body', { body: '' }],
    ['a JSON body', { headers: { 'content-type': 'application/json' }, body: '{}' }],
    ['no logout_token', { body: 'token=x' }],
    ['two logout_tokens', { body: 'logout_token=a&logout_token=b' }],
    ['an empty logout_token', { body: 'logout_token=' }],
    ['a 20 kB body', { body: `logout_token=${'a'.repeat(20_000)}` }],
  ])('refuses a request with %s with 400 invalid_request', async (_name, init) => {
    const response = await postLogoutToken(t.broker.url, '', init)
    expect(response.status).toBe(400)
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(await response.json()).toMatchObject({ error: 'invalid_request' })
  })

  it('refuses a token that is not a JWT with 400 invalid_token', async () => {
    const response = await postLogoutToken(t.broker.url, 'not.a.jwt')
    expect(response.status).toBe(400)
    expect(await response.json()).toMatchObject({ error: 'invalid_token' })
  })

  it('logs outcomes without the logout token or the session tokens', async () => {
    const { browser } = await t.signIn()
    const { session } = await storedSessionOf(t.broker, browser.cookie('__Host-bff-session')?.value)
    const token = await forge()
    await postLogoutToken(t.broker.url, token)
    await postLogoutToken(t.broker.url, token)
    const refreshToken = session?.tokens.refreshToken ?? ''
    await until(() => t.provider.revokedTokens.includes(refreshToken), 'revocation')
    const log = logLines.join('')
    expect(log).toContain('"event":"backchannel.logout"')
    expect(log).toContain('"event":"backchannel.refused"')
    for (const secret of [token, session?.tokens.refreshToken, session?.tokens.accessToken]) {
      expect(secret).toBeTruthy()
      expect(log).not.toContain(secret)
    }
  })
})

describe('back-channel logout when the provider’s keys cannot be fetched', () => {
  // Nothing listens on port 1: the JWKS is unreachable while discovery worked.
  const t = useScriptedBroker(
    {},
    {},
    { metadata: (m) => ({ ...m, jwks_uri: 'http://127.0.0.1:1/jwks' }) },
  )

  it('answers 503 provider_unavailable with no-store, so the provider retries', async () => {
    const token = await forgeLogoutToken(t.provider, 'bff-client')
    const response = await postLogoutToken(t.broker.url, token)
    expect(response.status).toBe(503)
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(response.headers.get('retry-after')).toBeTruthy()
    expect(await response.json()).toMatchObject({ error: 'provider_unavailable' })
  })
})

describe('back-channel logout when Redis fails half-way', () => {
  const { store, control } = storeFailingAt('sessions', 'deleteSessions')
  let offset = 0
  const t = useScriptedBroker({}, { store, clock: { now: () => Date.now() + offset } })

  it('answers 503 and accepts the provider’s retry of the same token', async () => {
    const { browser } = await t.signIn()
    const token = await forgeLogoutToken(t.provider, 'bff-client')
    control.failing = true
    const first = await postLogoutToken(t.broker.url, token)
    control.failing = false
    expect(first.status).toBe(503)
    expect(await first.json()).toMatchObject({ error: 'store_unavailable' })
    // The store's circuit opened; the provider retries after Retry-After, and so do we.
    offset += Number(first.headers.get('retry-after')) * 1000
    expect((await t.apiCall(browser, '/auth/user')).status).toBe(200)
    const retry = await postLogoutToken(t.broker.url, token)
    expect(retry.status).toBe(200)
    expect((await t.apiCall(browser, '/auth/user')).status).toBe(401)
  })
})
