import { decodeJwt, exportJWK, generateKeyPair } from 'jose'
import * as client from 'openid-client'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { type DemoApi, startDemoApi } from '../../demo/api/create-demo-api.js'
import { HttpBrowser } from './http-browser.js'
import { startTestProvider, type TestProvider } from './provider.js'
import { ping, startRedis } from './redis.js'
import { type StubRelyingParty, startStubRelyingParty } from './stub-relying-party.js'

const API_AUDIENCE = 'http://localhost:4020'

describe('redis', () => {
  it('the global redis answers PING', async () => {
    const port = Number(new URL(inject('redisUrl')).port)
    expect(await ping(port)).toBe(true)
  })

  it('startRedis starts a server and stop ends it', async () => {
    const redis = await startRedis()
    expect(await ping(redis.port)).toBe(true)
    await redis.stop()
    expect(await ping(redis.port)).toBe(false)
  })
})

describe('dev provider discovery', () => {
  const matrix = ['', '/realms/test'].flatMap((issuerPath) =>
    (['RS256', 'PS256', 'ES256'] as const).map((alg) => ({ issuerPath, alg })),
  )

  it.each(matrix)(
    'serves discovery under "$issuerPath" signing with $alg',
    async ({ issuerPath, alg }) => {
      const provider = await startTestProvider({
        redirectUri: 'http://127.0.0.1:9/auth/callback',
        issuerPath,
        idTokenSigningAlg: alg,
      })
      try {
        expect(provider.issuer).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:\\d+${issuerPath}$`))
        const response = await fetch(`${provider.issuer}/.well-known/openid-configuration`)
        expect(response.status).toBe(200)
        const document = (await response.json()) as Record<string, unknown>
        expect(document.issuer).toBe(provider.issuer)
        expect(document.id_token_signing_alg_values_supported).toEqual([alg])
        expect(document.code_challenge_methods_supported).toEqual(['S256'])
        const endpoints = Object.entries(document).filter(([key]) => key.endsWith('_endpoint'))
        expect(endpoints.length).toBeGreaterThan(4)
        for (const [, value] of endpoints) expect(String(value)).toMatch(`${provider.issuer}/`)
        expect(document.jwks_uri).toBe(provider.jwksUri)
        const jwks = (await (await fetch(provider.jwksUri)).json()) as { keys: { alg: string }[] }
        expect(jwks.keys.map((key) => key.alg)).toEqual([alg])
      } finally {
        await provider.stop()
      }
    },
  )

  it('announces required PAR when asked to', async () => {
    const provider = await startTestProvider({
      redirectUri: 'http://127.0.0.1:9/cb',
      requirePar: true,
    })
    try {
      const document = await (
        await fetch(`${provider.issuer}/.well-known/openid-configuration`)
      ).json()
      expect(document.require_pushed_authorization_requests).toBe(true)
    } finally {
      await provider.stop()
    }
  })
})

describe('login through the dev provider', () => {
  let rp: StubRelyingParty
  let provider: TestProvider
  let api: DemoApi
  let config: client.Configuration

  beforeAll(async () => {
    rp = await startStubRelyingParty({ prompt: 'consent' })
    provider = await startTestProvider({
      redirectUri: rp.redirectUri,
      postLogoutRedirectUri: rp.postLogoutRedirectUri,
      backchannelLogoutUri: rp.backchannelLogoutUri,
      issuerPath: '/realms/test',
      publicHost: 'localhost',
      // Refresh tokens only for granted offline_access: proves the consent step grants it.
      refreshTokenPolicy: 'offline_access',
      idTokenSigningAlg: 'PS256',
      apiAudience: API_AUDIENCE,
    })
    config = await client.discovery(
      new URL(provider.issuer),
      provider.clientId,
      provider.clientSecret,
      client.ClientSecretBasic(provider.clientSecret),
      { execute: [client.allowInsecureRequests] },
    )
    rp.use(config)
    api = await startDemoApi({
      issuer: provider.issuer,
      jwksUri: provider.jwksUri,
      audience: API_AUDIENCE,
    })
  })

  afterAll(async () => {
    await Promise.all([rp?.stop(), provider?.stop(), api?.stop()])
  })

  async function logIn(browser: HttpBrowser) {
    const alice = provider.users.alice
    if (!alice) throw new Error('no alice')
    const result = await browser.login({
      brokerUrl: rp.url,
      username: 'alice',
      password: alice.password,
    })
    const callbackUrl = new URL(result.callbackUrl)
    const started = rp.logins.get(callbackUrl.searchParams.get('state') ?? '')
    if (!started) throw new Error(`unknown state in ${callbackUrl.href}`)
    const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
      pkceCodeVerifier: started.codeVerifier,
      expectedState: started.state,
      expectedNonce: started.nonce,
    })
    return { result, tokens }
  }

  it('reaches the redirect URI with code and state, and issues a rotating refresh token', async () => {
    const before = provider.counts()
    const { result, tokens } = await logIn(new HttpBrowser())
    expect(result.callbackResponse.status).toBe(200)
    // The provider is on localhost, the stub on 127.0.0.1: a cross-site return.
    expect(await result.callbackResponse.text()).toBe('cookie: tx=1')
    expect(tokens.refresh_token).toBeTruthy()
    expect(tokens.claims()).toMatchObject({
      sub: 'alice',
      name: 'Alice Example',
      email: 'alice@example.com',
    })
    expect(decodeJwt(tokens.access_token)).toMatchObject({ aud: API_AUDIENCE, scope: 'api:read' })

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token ?? '')
    expect(refreshed.refresh_token).toBeTruthy()
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token)
    const reuse = client.refreshTokenGrant(config, tokens.refresh_token ?? '')
    await expect(reuse).rejects.toMatchObject({ error: 'invalid_grant' })

    const after = provider.counts()
    expect(after.authorizationCodeGrants - before.authorizationCodeGrants).toBe(1)
    expect(after.refreshTokenGrants - before.refreshTokenGrants).toBe(1)
    expect(after.refreshTokenErrors - before.refreshTokenErrors).toBe(1)
  })

  it('issues access tokens the demo API accepts, and the API rejects garbage', async () => {
    const { tokens } = await logIn(new HttpBrowser())
    const ok = await fetch(`${api.url}/things?x=1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.access_token}`, 'x-extra': 'yes' },
      body: 'hello',
    })
    expect(ok.status).toBe(200)
    const echo = await ok.json()
    expect(echo).toMatchObject({
      sub: 'alice',
      scope: 'api:read',
      path: '/things?x=1',
      method: 'POST',
    })
    expect(echo).toMatchObject({ hasAuthorization: true, body: 'hello' })
    expect(echo.receivedHeaders['x-extra']).toBe('yes')
    expect(echo.receivedHeaders.authorization).toBeUndefined()
    expect(api.lastBearer()).toBe(tokens.access_token)

    const bad = await fetch(api.url, { headers: { authorization: 'Bearer not.a.jwt' } })
    expect(bad.status).toBe(401)
    expect(await bad.json()).toEqual({ error: 'invalid_token' })
    expect((await fetch(api.url)).status).toBe(401)
  })

  it('re-renders the login page on a wrong password', async () => {
    const browser = new HttpBrowser()
    const attempt = browser.login({ brokerUrl: rp.url, username: 'alice', password: 'wrong' })
    await expect(attempt).rejects.toThrow(/login refused for alice: .*wrong password/)
  })

  it('returns access_denied to the redirect URI when consent is denied', async () => {
    const browser = new HttpBrowser()
    const password = provider.users.bob?.password ?? ''
    const result = await browser.login({
      brokerUrl: rp.url,
      username: 'bob',
      password,
      consent: 'deny',
    })
    expect(new URL(result.callbackUrl).searchParams.get('error')).toBe('access_denied')
  })

  it('revokes refresh tokens, and logs out with a back-channel notice', async () => {
    const browser = new HttpBrowser()
    const { tokens } = await logIn(browser)
    const before = provider.counts()
    await client.tokenRevocation(config, tokens.refresh_token ?? '')
    expect(provider.counts().revocations - before.revocations).toBe(1)

    const endSession = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token ?? '',
      post_logout_redirect_uri: rp.postLogoutRedirectUri,
    })
    const response = await browser.confirmProviderLogout(endSession.href, { initiator: rp.url })
    expect(response.status).toBe(200)
    expect(browser.lastUrl).toBe(rp.postLogoutRedirectUri)
    const after = provider.counts()
    expect(after.endSessions - before.endSessions).toBe(1)
    expect(after.backchannelLogouts - before.backchannelLogouts).toBe(1)
    const body = new URLSearchParams(rp.backchannelBodies.at(-1))
    expect(decodeJwt(body.get('logout_token') ?? '')).toMatchObject({
      sub: 'alice',
      iss: provider.issuer,
    })
  })
})

describe('client authentication at the token endpoint', () => {
  async function clientAuth(method: 'client_secret_post' | 'private_key_jwt', secret: string) {
    if (method === 'client_secret_post')
      return { auth: client.ClientSecretPost(secret), jwks: undefined }
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
    const jwk = { ...(await exportJWK(publicKey)), kid: 'rp-key', alg: 'ES256' }
    return { auth: client.PrivateKeyJwt({ key: privateKey, kid: 'rp-key' }), jwks: { keys: [jwk] } }
  }

  it.each(['client_secret_post', 'private_key_jwt'] as const)(
    'exchanges a code with %s',
    async (method) => {
      const rp = await startStubRelyingParty()
      const secret = 'test-secret-for-post'
      const { auth, jwks } = await clientAuth(method, secret)
      const provider = await startTestProvider({
        redirectUri: rp.redirectUri,
        clients: [
          {
            client_id: 'bff-auth',
            token_endpoint_auth_method: method,
            redirect_uris: [rp.redirectUri],
            ...(jwks ? { jwks } : { client_secret: secret }),
          },
        ],
      })
      try {
        const config = await client.discovery(
          new URL(provider.issuer),
          'bff-auth',
          undefined,
          auth,
          {
            execute: [client.allowInsecureRequests],
          },
        )
        rp.use(config)
        const password = provider.users.alice?.password ?? ''
        const result = await new HttpBrowser().login({
          brokerUrl: rp.url,
          username: 'alice',
          password,
        })
        const callbackUrl = new URL(result.callbackUrl)
        const started = rp.logins.get(callbackUrl.searchParams.get('state') ?? '')
        const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
          pkceCodeVerifier: started?.codeVerifier,
          expectedState: started?.state,
          expectedNonce: started?.nonce,
        })
        expect(tokens.claims()?.sub).toBe('alice')
        expect(tokens.refresh_token).toBeTruthy()
      } finally {
        await Promise.all([rp.stop(), provider.stop()])
      }
    },
  )
})
