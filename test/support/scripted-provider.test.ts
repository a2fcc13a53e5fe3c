import * as client from 'openid-client'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { type Script, type ScriptedProvider, startScriptedProvider } from './scripted-provider.js'

const CLIENT_ID = 'client-1'
const REDIRECT_URI = 'http://127.0.0.1:9/callback'
const now = () => Math.floor(Date.now() / 1000)

let op: ScriptedProvider

beforeAll(async () => {
  op = await startScriptedProvider({ clientId: CLIENT_ID })
})
afterAll(async () => {
  await op.stop()
})
beforeEach(() => {
  op.reset()
})

/** Fresh config each time: openid-client caches the JWKS per configuration. */
async function configure(opts: { nonRepudiation?: boolean; issuer?: string } = {}) {
  const config = await client.discovery(
    new URL(opts.issuer ?? op.issuer),
    CLIENT_ID,
    'secret',
    client.ClientSecretBasic('secret'),
    { execute: [client.allowInsecureRequests] },
  )
  if (opts.nonRepudiation) client.enableNonRepudiationChecks(config)
  return config
}

async function login(config: client.Configuration) {
  const pkceCodeVerifier = client.randomPKCECodeVerifier()
  const expectedState = client.randomState()
  const expectedNonce = client.randomNonce()
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile email',
    code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
    code_challenge_method: 'S256',
    state: expectedState,
    nonce: expectedNonce,
  })
  const res = await fetch(url, { redirect: 'manual' })
  expect(res.status).toBe(302)
  const location = res.headers.get('location')
  if (!location) throw new Error('no Location from /authorize')
  const tokens = await client.authorizationCodeGrant(config, new URL(location), {
    pkceCodeVerifier,
    expectedState,
    expectedNonce,
    idTokenExpected: true,
  })
  return { tokens, expectedNonce, expectedState }
}

/** openid-client wraps the specific reason in `cause`; flatten the chain for matching. */
function reasons(err: unknown): string {
  const out: string[] = []
  for (let e = err; e instanceof Error; e = e.cause) {
    out.push('error' in e && typeof e.error === 'string' ? `${e.message} (${e.error})` : e.message)
  }
  return out.join(' <- ')
}

async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (err) {
    return reasons(err)
  }
  throw new Error('expected the grant to be rejected, but it succeeded')
}

describe('scripted provider: happy path', () => {
  it('default plan yields validated claims and records the token request', async () => {
    const { tokens, expectedNonce, expectedState } = await login(await configure())
    const claims = tokens.claims()
    expect(claims).toMatchObject({
      iss: op.issuer,
      sub: 'user-1',
      aud: CLIENT_ID,
      nonce: expectedNonce,
    })
    expect(tokens.refresh_token).toBeTypeOf('string')
    expect(op.lastAuthorizationRequest()?.get('state')).toBe(expectedState)
    expect(op.lastAuthorizationRequest()?.get('code_challenge_method')).toBe('S256')
    expect(op.calls).toMatchObject({ discovery: 1, authorize: 1, token: 1 })
    const [request] = op.tokenRequests
    expect(request?.grantType).toBe('authorization_code')
    expect(request?.headers.authorization).toMatch(/^Basic /)
    expect(request?.params.get('code_verifier')).toBeTypeOf('string')
  })

  it('default plan passes signature verification (RS256 and ES256)', async () => {
    const config = await configure({ nonRepudiation: true })
    await login(config)
    op.script = { idToken: { sign: 'es256' } }
    const { tokens } = await login(config)
    expect(tokens.claims()?.sub).toBe('user-1')
    expect(op.calls.jwks).toBe(1)
  })

  it('refresh grant issues new tokens without a nonce; revoked tokens are refused', async () => {
    const config = await configure({ nonRepudiation: true })
    const { tokens } = await login(config)
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token ?? '')
    expect(refreshed.claims()?.nonce).toBeUndefined()
    expect(op.tokenRequests[1]?.grantType).toBe('refresh_token')
    await client.tokenRevocation(config, refreshed.refresh_token ?? '')
    expect(op.revokedTokens).toEqual([refreshed.refresh_token])
    expect(
      await rejection(client.refreshTokenGrant(config, refreshed.refresh_token ?? '')),
    ).toMatch(/invalid_grant/)
  })

  it('supports PAR and an issuer with a path', async () => {
    const tenant = await startScriptedProvider({ issuerPath: '/tenant-a' })
    try {
      expect(tenant.issuer).toMatch(/\/tenant-a$/)
      const config = await configure({ issuer: tenant.issuer })
      const verifier = client.randomPKCECodeVerifier()
      const url = await client.buildAuthorizationUrlWithPAR(config, {
        redirect_uri: REDIRECT_URI,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state: 's1',
      })
      expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/)
      const res = await fetch(url, { redirect: 'manual' })
      const location = new URL(res.headers.get('location') ?? '')
      expect(tenant.lastAuthorizationRequest()?.get('state')).toBe('s1')
      const tokens = await client.authorizationCodeGrant(config, location, {
        pkceCodeVerifier: verifier,
        expectedState: 's1',
      })
      expect(tokens.claims()?.iss).toBe(tenant.issuer)
      expect(tenant.calls).toMatchObject({ par: 1, authorize: 1, token: 1 })
    } finally {
      await tenant.stop()
    }
  })

  it('rejects a wrong PKCE verifier at the token endpoint', async () => {
    const config = await configure()
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: 's',
    })
    const res = await fetch(url, { redirect: 'manual' })
    const grant = client.authorizationCodeGrant(
      config,
      new URL(res.headers.get('location') ?? ''),
      {
        pkceCodeVerifier: client.randomPKCECodeVerifier(),
        expectedState: 's',
      },
    )
    expect(await rejection(grant)).toMatch(/invalid_grant/)
  })
})

type Row = [name: string, script: Script, reason: RegExp]

const withClaims = (f: (c: Record<string, unknown>) => Record<string, unknown>): Script => ({
  idToken: { claims: f },
})

const hostileIdTokens: Row[] = [
  ['alg none', { idToken: { sign: 'none' } }, /unexpected JWT "alg" header parameter/],
  [
    'HS256 signed with the RSA public key',
    { idToken: { sign: 'hs256-with-public-key' } },
    /unexpected JWT "alg" header parameter/,
  ],
  [
    'HS256 key confusion even when the OP advertises HS256',
    {
      metadata: (m) => ({ ...m, id_token_signing_alg_values_supported: ['RS256', 'HS256'] }),
      idToken: { sign: 'hs256-with-public-key' },
    },
    /unsupported JWS algorithm/,
  ],
  [
    'alg none even when the OP advertises none',
    {
      metadata: (m) => ({ ...m, id_token_signing_alg_values_supported: ['RS256', 'none'] }),
      idToken: { sign: 'none' },
    },
    /unsupported JWS "alg" identifier/,
  ],
  [
    'RS256 by another key under the same kid',
    { idToken: { sign: 'rs256-wrong-key' } },
    /JWT signature verification failed/,
  ],
  [
    'garbage signature',
    { idToken: { sign: 'garbage-signature' } },
    /JWT signature verification failed/,
  ],
  [
    'unknown kid',
    { idToken: { header: (h) => ({ ...h, kid: 'nope' }) } },
    /no applicable keys found/,
  ],
  [
    'wrong nonce',
    withClaims((c) => ({ ...c, nonce: 'other' })),
    /unexpected ID Token "nonce" claim value/,
  ],
  ['missing nonce', withClaims(({ nonce: _, ...c }) => c), /JWT "nonce" \(nonce\) claim missing/],
  ['wrong aud', withClaims((c) => ({ ...c, aud: 'client-2' })), /unexpected JWT "aud"/],
  [
    'extra untrusted aud without azp',
    withClaims((c) => ({ ...c, aud: [CLIENT_ID, 'evil'] })),
    /additional untrusted audiences/,
  ],
  [
    'extra aud with a foreign azp',
    withClaims((c) => ({ ...c, aud: [CLIENT_ID, 'evil'], azp: 'evil' })),
    /unexpected ID Token "azp"/,
  ],
  ['wrong iss', withClaims((c) => ({ ...c, iss: 'http://evil.example' })), /unexpected JWT "iss"/],
  [
    'expired exp',
    withClaims((c) => ({ ...c, exp: now() - 120 })),
    /expiration is past current timestamp/,
  ],
  ['missing exp', withClaims(({ exp: _, ...c }) => c), /JWT "exp" .* claim missing/],
  ['missing iat', withClaims(({ iat: _, ...c }) => c), /JWT "iat" .* claim missing/],
  ['missing sub', withClaims(({ sub: _, ...c }) => c), /JWT "sub" .* claim missing/],
  [
    'nbf in the future',
    withClaims((c) => ({ ...c, nbf: now() + 600 })),
    /unexpected JWT "nbf" \(not before\) claim value/,
  ],
  [
    'no id_token in the token response',
    { tokenResponse: ({ id_token: _, ...body }) => body },
    /"id_token" property must be a string/,
  ],
  [
    'token endpoint error JSON',
    {
      tokenResponse: () => ({
        status: 400,
        body: JSON.stringify({ error: 'invalid_grant', error_description: 'nope' }),
      }),
    },
    /server responded with an error in the response body/,
  ],
  [
    'token endpoint 500 HTML page',
    { tokenResponse: () => ({ status: 500, body: '<h1>oops</h1>', contentType: 'text/html' }) },
    /unexpected HTTP response status code/,
  ],
]

describe('openid-client (with enableNonRepudiationChecks) rejects hostile token responses', () => {
  it.each(hostileIdTokens)('%s', async (_name, script, reason) => {
    op.script = script
    const config = await configure({ nonRepudiation: true })
    expect(await rejection(login(config))).toMatch(reason)
    expect(op.calls.token).toBe(1)
  })
})

const hostileRedirects: Row[] = [
  [
    'wrong iss parameter',
    {
      authorizeRedirect: ({ redirectUri, code, state }) =>
        `${redirectUri}?code=${code}&state=${state}&iss=${encodeURIComponent('http://evil.example')}`,
    },
    /unexpected "iss" \(issuer\) response parameter value/,
  ],
  [
    'iss parameter missing while advertised',
    {
      authorizeRedirect: ({ redirectUri, code, state }) =>
        `${redirectUri}?code=${code}&state=${state}`,
    },
    /response parameter "iss" \(issuer\) missing/,
  ],
  [
    'wrong state',
    {
      authorizeRedirect: ({ redirectUri, code, issuer }) =>
        `${redirectUri}?code=${code}&state=forged&iss=${encodeURIComponent(issuer)}`,
    },
    /unexpected "state" response parameter value/,
  ],
  [
    'error=access_denied with HTML in the description',
    {
      authorizeRedirect: ({ redirectUri, state, issuer }) =>
        `${redirectUri}?error=access_denied&error_description=${encodeURIComponent('<b>x</b>')}&state=${state}&iss=${encodeURIComponent(issuer)}`,
    },
    /authorization response from the server is an error/,
  ],
]

describe('openid-client rejects hostile authorization responses before the token call', () => {
  it.each(hostileRedirects)('%s', async (_name, script, reason) => {
    op.script = script
    const config = await configure()
    expect(await rejection(login(config))).toMatch(reason)
    expect(op.calls.authorize).toBe(1)
    expect(op.calls.token).toBe(0)
  })
})

// Canaries: these pass under openid-client's defaults. The broker must not rely on them.
describe('openid-client default gaps (documented, the broker must cover them)', () => {
  it.each([['rs256-wrong-key' as const], ['garbage-signature' as const]])(
    'without enableNonRepudiationChecks, a %s ID token is ACCEPTED',
    async (sign) => {
      const config = await configure()
      op.script = { idToken: { sign } }
      const { tokens } = await login(config)
      expect(tokens.claims()?.sub).toBe('user-1')
      expect(op.calls.jwks).toBe(0)
    },
  )

  it('without enableNonRepudiationChecks, alg none is ACCEPTED if the OP advertises none', async () => {
    op.script = {
      metadata: (m) => ({ ...m, id_token_signing_alg_values_supported: ['RS256', 'none'] }),
      idToken: { sign: 'none' },
    }
    const { tokens } = await login(await configure())
    expect(tokens.claims()?.sub).toBe('user-1')
  })

  it('an iat far in the future is ACCEPTED (only its type is checked)', async () => {
    const config = await configure({ nonRepudiation: true })
    op.script = withClaims((c) => ({ ...c, iat: now() + 86_400 }))
    await expect(login(config)).resolves.toBeDefined()
  })

  it('a missing iss parameter is ACCEPTED when the OP does not advertise support', async () => {
    op.script = {
      metadata: (m) => ({ ...m, authorization_response_iss_parameter_supported: false }),
      authorizeRedirect: ({ redirectUri, code, state }) =>
        `${redirectUri}?code=${code}&state=${state}`,
    }
    await expect(login(await configure())).resolves.toBeDefined()
  })

  it('discovery itself rejects a metadata issuer that differs from the requested one', async () => {
    op.script = { metadata: (m) => ({ ...m, issuer: 'http://evil.example' }) }
    expect(await rejection(configure())).toMatch(/issuer does not match the expected issuer/)
  })
})
