import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/config/config-error.js'
import { loadConfigFromEnv } from '../../src/config/load-env.js'

const valid = {
  PUBLIC_URL: 'https://app.example',
  OIDC_ISSUER: 'https://idp.example/realms/main',
  OIDC_CLIENT_ID: 'bff',
  OIDC_CLIENT_SECRET: 'secret',
  COOKIE_SECRETS: `1:${'a'.repeat(32)},2:${'b'.repeat(40)}`,
  API_ROUTES: '/api/orders=https://orders.internal,/api/users=https://users.internal/v2',
}

function issuesOf(env: Record<string, string>): string[] {
  try {
    loadConfigFromEnv(env)
  } catch (error) {
    if (error instanceof ConfigError) return [...error.issues]
    throw error
  }
  return []
}

describe('loadConfigFromEnv', () => {
  it('parses a complete environment with defaults and freezes it', () => {
    const config = loadConfigFromEnv(valid)
    expect(config.apiRoutes).toEqual([
      {
        prefix: '/api/orders',
        upstream: 'https://orders.internal',
        forwardHeaders: [],
        stream: false,
        token: 'user',
        clientScopes: [],
        grant: 'refresh_token',
        scopes: [],
        claims: {},
        websocket: false,
      },
      {
        prefix: '/api/users',
        upstream: 'https://users.internal/v2',
        forwardHeaders: [],
        stream: false,
        token: 'user',
        clientScopes: [],
        grant: 'refresh_token',
        scopes: [],
        claims: {},
        websocket: false,
      },
    ])
    expect(config.requestBodyTimeoutSeconds).toBe(10)
    expect(config.apiMaxInFlightPerSession).toBe(32)
    expect(config.cookieSecrets.map((s) => s.id)).toEqual([1, 2])
    expect(config.scopes).toContain('openid')
    expect(config.sessionIdleTimeoutSeconds).toBe(1800)
    expect(config.cookieName).toBe('__Host-bff-session')
    expect(Object.isFrozen(config)).toBe(true)
    expect(Object.isFrozen(config.apiRoutes[0])).toBe(true)
  })

  it('names every missing required variable at once', () => {
    const issues = issuesOf({})
    expect(issues.map((i) => i.split(':')[0])).toEqual(
      expect.arrayContaining(['PUBLIC_URL', 'OIDC_ISSUER', 'OIDC_CLIENT_ID', 'COOKIE_SECRETS']),
    )
  })

  it.each([
    [{ OIDC_ISSUER: 'not a url' }, 'OIDC_ISSUER'],
    [{ OIDC_ISSUER: 'http://idp.example' }, 'OIDC_ISSUER'],
    [{ COOKIE_SECRETS: '1:short' }, 'COOKIE_SECRETS'],
    [{ COOKIE_SECRETS: 'no-id-here-but-long-enough-to-count-as-secret' }, 'COOKIE_SECRETS'],
    [{ SESSION_IDLE_TIMEOUT_SECONDS: 'ten' }, 'SESSION_IDLE_TIMEOUT_SECONDS'],
    [{ API_ROUTES: '/orders=https://orders.internal' }, 'API_ROUTES'],
    [{ API_ROUTES: '/api/orders' }, 'API_ROUTES'],
    [{ OIDC_CLIENT_AUTH: 'client_secret_jwt' }, 'OIDC_CLIENT_AUTH'],
    [{ OIDC_CLIENT_AUTH: 'private_key_jwt' }, 'OIDC_CLIENT_PRIVATE_KEY'],
    [{ OIDC_ID_TOKEN_ALGS: 'HS256' }, 'OIDC_ID_TOKEN_ALGS'],
    [{ PUBLIC_URL: 'http://app.example' }, 'PUBLIC_URL'],
    [{ PUBLIC_URL: 'https://app.example/app' }, 'PUBLIC_URL'],
    [{ REDIS_URL: 'http://redis' }, 'REDIS_URL'],
    [{ COOKIE_NAME: 'session' }, 'COOKIE_NAME'],
    [{ CSRF_HEADER_NAME: 'Content-Type' }, 'CSRF_HEADER_NAME'],
    [{ POST_LOGOUT_RETURN_TO: 'https://evil.example/' }, 'POST_LOGOUT_RETURN_TO'],
    [{ POST_LOGOUT_RETURN_TO: '//evil.example/' }, 'POST_LOGOUT_RETURN_TO'],
    [{ POST_LOGOUT_RETURN_TO: '/\\evil.example/' }, 'POST_LOGOUT_RETURN_TO'],
    [{ POST_LOGOUT_RETURN_TO: 'signed-out' }, 'POST_LOGOUT_RETURN_TO'],
    [{ POST_LOGOUT_REDIRECT_URI: '/auth/signed-out' }, 'POST_LOGOUT_REDIRECT_URI'],
    [{ TOKEN_ENCRYPTION_KEYS: '1:c2hvcnQ=' }, 'TOKEN_ENCRYPTION_KEYS'],
    [{ TOKEN_ENCRYPTION_KEYS: 'no-id' }, 'TOKEN_ENCRYPTION_KEYS'],
    [
      {
        TOKEN_ENCRYPTION_KEYS: `1:${Buffer.alloc(32, 1).toString('base64')},1:${Buffer.alloc(32, 2).toString('base64')}`,
      },
      'TOKEN_ENCRYPTION_KEYS',
    ],
    [{ REDIS_URL: 'redis://127.0.0.1:6379' }, 'TOKEN_ENCRYPTION_KEYS'],
    [{ TRUSTED_PROXIES: '10.0.0.0/33' }, 'TRUSTED_PROXIES'],
    [{ TRUSTED_PROXIES: 'proxy.internal' }, 'TRUSTED_PROXIES'],
    [{ RATE_LIMIT_LOGIN: '30' }, 'RATE_LIMIT_LOGIN'],
    [{ RATE_LIMIT_API: '0/60' }, 'RATE_LIMIT_API'],
    [{ RATE_LIMIT_CALLBACK: 'ten/60' }, 'RATE_LIMIT_CALLBACK'],
    [{ MAX_BODY_BYTES: '1mb' }, 'MAX_BODY_BYTES'],
    [{ REQUEST_BODY_TIMEOUT_SECONDS: '0' }, 'REQUEST_BODY_TIMEOUT_SECONDS'],
    [{ MAX_BUFFERED_BODY_BYTES: '2048', MAX_BODY_BYTES: '4096' }, 'MAX_BUFFERED_BODY_BYTES'],
    [{ API_MAX_IN_FLIGHT_PER_SESSION: '0' }, 'API_MAX_IN_FLIGHT_PER_SESSION'],
    [{ API_ROUTES: '[{"prefix":"/api/x"' }, 'API_ROUTES'],
    [
      { API_ROUTES: '[{"prefix":"/api/x","upstream":"https://x.internal","strem":true}]' },
      'API_ROUTES',
    ],
    [
      {
        API_ROUTES:
          '[{"prefix":"/api/x","upstream":"https://x.internal","forwardHeaders":["X-Up"]}]',
      },
      'API_ROUTES',
    ],
    [{ MAX_BODY_BYTES: '10' }, 'MAX_BODY_BYTES'],
    [
      { SESSION_ABSOLUTE_TIMEOUT_SECONDS: '60', SESSION_IDLE_TIMEOUT_SECONDS: '600' },
      'SESSION_ABSOLUTE_TIMEOUT_SECONDS',
    ],
  ])('refuses %j naming %s', (override, variable) => {
    const issues = issuesOf({ ...valid, ...override })
    expect(issues.length).toBeGreaterThan(0)
    expect(issues.some((line) => line.startsWith(`${variable}: expected`))).toBe(true)
  })

  it.each(['cookie', 'authorization', 'dpop', 'x-csrf', 'x-forwarded-user', 'connection', 'host'])(
    'refuses a route that would forward %s, naming the route',
    (name) => {
      const issues = issuesOf({
        ...valid,
        API_ROUTES: JSON.stringify([
          { prefix: '/api/x', upstream: 'https://x.internal', forwardHeaders: [name] },
        ]),
      })
      expect(issues).toEqual([
        `API_ROUTES: /api/x: ${name} cannot be forwarded (the broker sets it, or it is a credential, hop-by-hop or forwarding header)`,
      ])
    },
  )

  it.each([
    [{ token: 'machine' }, 'expected one of user, user-optional, client, none'],
    [{ token: 'none', scopes: ['admin'] }, '/api/x: expected token user with scopes'],
    [{ token: 'client', scopes: ['admin'] }, '/api/x: expected token user with scopes'],
    [
      { token: 'user-optional', claims: { email: 'a@example.test' } },
      '/api/x: expected token user or client with claims',
    ],
    [{ clientScopes: ['api:read'] }, '/api/x: expected token client with clientScopes'],
    [
      { token: 'none', resource: 'https://r.internal' },
      '/api/x: expected token user, user-optional or client with resource',
    ],
    [{ token: 'client', resource: 'reports' }, 'expected an absolute URI without a fragment'],
    [
      { token: 'client', resource: 'https://r.internal/#top' },
      'expected an absolute URI without a fragment (RFC 8707), such as https://reports.internal',
    ],
    [{ token: 'client', clientScopes: ['a b'] }, 'API_ROUTES'],
    [
      { claims: { groups: 'admins' } },
      '/api/x: expected the claim groups in USER_CLAIMS (the session keeps only those)',
    ],
    [{ timeoutSeconds: 0 }, 'expected a whole number of seconds'],
    [{ websocket: 'yes' }, 'expected boolean'],
    [
      { token: 'user-optional', acr: 'urn:example:mfa' },
      '/api/x: expected token user or client with acr or authMaxAgeSeconds',
    ],
    [
      { token: 'none', authMaxAgeSeconds: 300 },
      '/api/x: expected token user or client with acr or authMaxAgeSeconds',
    ],
    [{ acr: 'urn:example:two words' }, 'expected acr values without spaces'],
    [{ acr: ['urn:"quoted"'] }, 'expected acr values without spaces, quotes or backslashes'],
    [{ acr: [] }, 'API_ROUTES'],
    [{ authMaxAgeSeconds: 2.5 }, 'expected'],
    // 0 could never be met: the step-up sign-in takes longer than no time at all.
    [{ authMaxAgeSeconds: 0 }, 'API_ROUTES'],
    [{ grant: 'exchange' }, 'expected one of refresh_token, token_exchange'],
    [{ audience: 'reports-api' }, '/api/x: expected grant token_exchange with audience'],
    [
      { grant: 'token_exchange' },
      '/api/x: expected resource or audience with grant token_exchange',
    ],
    [
      { grant: 'token_exchange', token: 'client', resource: 'https://r.internal' },
      "/api/x: expected token user or user-optional with grant token_exchange (it exchanges the user's token)",
    ],
    [
      { grant: 'token_exchange', token: 'none', audience: 'reports-api' },
      "/api/x: expected token user or user-optional with grant token_exchange (it exchanges the user's token)",
    ],
    [
      { grant: 'token_exchange', audience: 'two words' },
      'expected an audience name without spaces (RFC 8693 §2.1), such as reports-api',
    ],
  ])('refuses the route options %j', (route, message) => {
    const issues = issuesOf({
      ...valid,
      API_ROUTES: JSON.stringify([{ prefix: '/api/x', upstream: 'https://x.internal', ...route }]),
    })
    expect(issues.length).toBe(1)
    expect(issues[0]).toMatch(/^API_ROUTES: /)
    expect(issues[0]).toContain(message.replace(/^expected a whole number of seconds$/, 'expected'))
  })

  it('reads client and resource routes, and asks the sign-in for each user resource', () => {
    const config = loadConfigFromEnv({
      ...valid,
      OIDC_RESOURCE: 'https://api.internal',
      API_ROUTES: JSON.stringify([
        {
          prefix: '/api/jobs',
          upstream: 'https://jobs.internal',
          token: 'client',
          clientScopes: ['jobs:run'],
          resource: 'https://api.internal',
          claims: { email: 'ops@example.test' },
        },
        { prefix: '/api/reports', upstream: 'https://r.internal', resource: 'urn:example:reports' },
      ]),
    })
    expect(config.resource).toBe('https://api.internal')
    expect(config.apiRoutes).toMatchObject([
      { token: 'client', clientScopes: ['jobs:run'], resource: 'https://api.internal' },
      { token: 'user', clientScopes: [], resource: 'urn:example:reports' },
    ])
  })

  it('reads OIDC_DPOP and refuses other values, naming it', () => {
    expect(loadConfigFromEnv({ ...valid }).dpop).toBe('off')
    expect(loadConfigFromEnv({ ...valid, OIDC_DPOP: 'always' }).dpop).toBe('always')
    expect(issuesOf({ ...valid, OIDC_DPOP: 'yes' })).toEqual([
      'OIDC_DPOP: expected one of off, auto, always',
    ])
  })

  it('reads step-up routes and the login allow-lists', () => {
    const config = loadConfigFromEnv({
      ...valid,
      LOGIN_ACR_VALUES: 'urn:example:loa3, urn:example:loa4',
      LOGIN_MAX_AGES: '0 600',
      API_ROUTES: JSON.stringify([
        { prefix: '/api/pay', upstream: 'https://pay.internal', acr: 'urn:example:mfa' },
        { prefix: '/api/keys', upstream: 'https://k.internal', authMaxAgeSeconds: 300 },
      ]),
    })
    expect(config.loginAcrValues).toEqual(['urn:example:loa3', 'urn:example:loa4'])
    expect(config.loginMaxAges).toEqual([0, 600])
    expect(config.apiRoutes).toMatchObject([
      { acr: ['urn:example:mfa'] },
      { authMaxAgeSeconds: 300 },
    ])
    expect(issuesOf({ ...valid, LOGIN_MAX_AGES: '600,ten' })).toEqual([
      'LOGIN_MAX_AGES: expected a whole number of seconds',
    ])
  })

  it('wants max_age in OIDC_AUTH_PARAMS as whole seconds, since the callback enforces it', () => {
    expect(issuesOf({ ...valid, OIDC_AUTH_PARAMS: 'max_age=ten' })).toEqual([
      'OIDC_AUTH_PARAMS: expected max_age as whole seconds (it is enforced on sign-in)',
    ])
    expect(issuesOf({ ...valid, OIDC_AUTH_PARAMS: 'max_age=600&prompt=login' })).toEqual([])
  })

  it('reads token exchange routes, which need no OIDC_RESOURCE and are not asked for at sign-in', () => {
    const config = loadConfigFromEnv({
      ...valid,
      API_ROUTES: JSON.stringify([
        {
          prefix: '/api/reports',
          upstream: 'https://r.internal',
          resource: 'https://r.internal',
          grant: 'token_exchange',
        },
        {
          prefix: '/api/ledger',
          upstream: 'https://l.internal',
          token: 'user-optional',
          audience: 'ledger-api',
          grant: 'token_exchange',
        },
        { prefix: '/api/x', upstream: 'https://x.internal' },
      ]),
    })
    expect(config.resource).toBeUndefined()
    expect(config.apiRoutes).toMatchObject([
      { grant: 'token_exchange', resource: 'https://r.internal' },
      { grant: 'token_exchange', audience: 'ledger-api', token: 'user-optional' },
      { grant: 'refresh_token' },
    ])
  })

  it('wants OIDC_RESOURCE once a user route names a resource, in one line', () => {
    const route = { prefix: '/api/reports', upstream: 'https://r.internal', resource: 'https://r' }
    expect(issuesOf({ ...valid, API_ROUTES: JSON.stringify([route]) })).toEqual([
      "OIDC_RESOURCE: expected the audience of the user's own token, since /api/reports names a resource (the sign-in then asks for every resource, and a provider may issue the user's token for any of them)",
    ])
    expect(
      issuesOf({ ...valid, OIDC_RESOURCE: 'https://r', API_ROUTES: JSON.stringify([route]) }),
    ).toEqual([
      "API_ROUTES: /api/reports: expected a resource other than OIDC_RESOURCE (the user's own token is for that one; leave resource out)",
    ])
    expect(issuesOf({ ...valid, OIDC_RESOURCE: 'not a uri' })).toEqual([
      'OIDC_RESOURCE: expected an absolute URI without a fragment (RFC 8707), such as https://reports.internal',
    ])
  })

  it('reads routes with options as JSON', () => {
    const config = loadConfigFromEnv({
      ...valid,
      API_ROUTES: JSON.stringify([
        { prefix: '/api/files', upstream: 'https://files.internal', stream: true },
        { prefix: '/api/t', upstream: 'https://t.internal', forwardHeaders: ['x-tenant-id'] },
        { prefix: '/api/live', upstream: 'https://live.internal', websocket: true },
      ]),
    })
    expect(config.apiRoutes).toMatchObject([
      {
        prefix: '/api/files',
        upstream: 'https://files.internal',
        forwardHeaders: [],
        stream: true,
      },
      {
        prefix: '/api/t',
        upstream: 'https://t.internal',
        forwardHeaders: ['x-tenant-id'],
        stream: false,
        websocket: false,
      },
      { prefix: '/api/live', websocket: true },
    ])
  })

  it('defaults the post-logout landing to / and accepts another path on this site', () => {
    expect(loadConfigFromEnv(valid).postLogoutReturnTo).toBe('/')
    const config = loadConfigFromEnv({ ...valid, POST_LOGOUT_RETURN_TO: '/bye?from=logout' })
    expect(config.postLogoutReturnTo).toBe('/bye?from=logout')
  })

  it('reads rate limits as requests/seconds or off, trusted proxies and the body limit', () => {
    const config = loadConfigFromEnv({
      ...valid,
      RATE_LIMIT_LOGIN: '5/10',
      RATE_LIMIT_API: 'off',
      TRUSTED_PROXIES: '10.0.0.0/8, fd00::/8',
      MAX_BODY_BYTES: '4096',
    })
    expect(config.rateLimitLogin).toEqual({ limit: 5, windowSeconds: 10 })
    expect(config.rateLimitApi).toBeNull()
    expect(config.rateLimitCallback).toEqual({ limit: 120, windowSeconds: 60 })
    expect(config.trustedProxies).toEqual(['10.0.0.0/8', 'fd00::/8'])
    expect(config.maxBodyBytes).toBe(4096)
  })

  it('accepts an http issuer only with the dangerous switch', () => {
    const config = loadConfigFromEnv({
      ...valid,
      OIDC_ISSUER: 'http://localhost:4010',
      DANGEROUSLY_ALLOW_HTTP_ISSUER: 'true',
    })
    expect(config.dangerouslyAllowHttpIssuer).toBe(true)
  })

  it('never echoes a secret value in its messages', () => {
    const secret = 'short-secret-value'
    const issues = issuesOf({ ...valid, COOKIE_SECRETS: `1:${secret}` })
    expect(issues.join('\n')).not.toContain(secret)
  })
})
