import { z } from 'zod'
import { parseCidr } from '../lib/client-address.js'
import { decodeKey } from '../lib/encryption-key.js'
import { validateReturnTo } from '../lib/return-to.js'
import { DPOP_MODES } from '../oidc/dpop.js'
import { neverForwarded } from '../proxy/headers.js'
import { API_TOKEN_KINDS, type RouteGrant, signInAsksFor } from '../proxy/upstreams.js'

/** Asymmetric JWS algorithms openid-client can verify; symmetric ones are never allowed. */
export const ID_TOKEN_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const

export const CLIENT_AUTH_METHODS = [
  'client_secret_basic',
  'client_secret_post',
  'private_key_jwt',
] as const

const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `expected one of ${values.join(', ')}` })

const absoluteUrl = z.url({ protocol: /^https?$/, error: 'expected an absolute http(s) URL' })
const seconds = (min: number) =>
  z.number({ error: 'expected a whole number of seconds' }).int().min(min)
const milliseconds = (min: number, max: number) =>
  z.number({ error: 'expected a whole number of milliseconds' }).int().min(min).max(max)

const hostPort = z
  .string()
  .regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'expected comma-separated host:port pairs')

/** RFC 9110 §5.1 field name, lower case (how node and fetch hand request headers over). */
const headerName = z
  .string()
  .regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/, 'expected lower-case header names such as x-tenant-id')

/** OAuth scope tokens (RFC 6749 §3.3). */
const scopeList = z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/))

/** RFC 8707 §2: a resource indicator is an absolute URI without a fragment. */
const resourceUri = z
  .string()
  .refine((v) => URL.canParse(v) && !v.includes('#') && /^[a-z][a-z0-9+.-]*:/i.test(v), {
    error:
      'expected an absolute URI without a fragment (RFC 8707), such as https://reports.internal',
  })

const ROUTE_OPTIONS = [
  'prefix',
  'upstream',
  'forwardHeaders',
  'stream',
  'token',
  'clientScopes',
  'resource',
  'grant',
  'audience',
  'scopes',
  'claims',
  'timeoutSeconds',
  'websocket',
  'acr',
  'authMaxAgeSeconds',
]

/** How a user route's token for another audience is obtained (see session/token-exchange.ts). */
export const ROUTE_GRANTS = [
  'refresh_token',
  'token_exchange',
] as const satisfies readonly RouteGrant[]

/** RFC 8693 §2.1 `audience`: a logical name of the target service, one form parameter value. */
const audienceName = z
  .string()
  .regex(
    /^[\x21-\x7e]{1,256}$/,
    'expected an audience name without spaces (RFC 8693 §2.1), such as reports-api',
  )

/** An acr value (OIDC Core §2): a string without spaces, since acr_values is space-separated. */
const acrValue = z
  .string()
  .regex(
    /^[\x21\x23-\x5b\x5d-\x7e]{1,256}$/,
    'expected acr values without spaces, quotes or backslashes',
  )

const apiRoute = z.strictObject(
  {
    prefix: z
      .string()
      .regex(
        /^\/api(\/[A-Za-z0-9._~-]+)+$/,
        'expected a path prefix under /api such as /api/orders',
      ),
    upstream: absoluteUrl,
    /** Request headers this upstream gets beyond the default allow-list (proxy/headers.ts). */
    forwardHeaders: z.array(headerName).default([]),
    /**
     * Request bodies stream to the upstream as they arrive (large uploads) instead of being
     * read completely first; such a request holds an upstream connection while it uploads.
     */
    stream: z.boolean().default(false),
    /**
     * Which access token the upstream gets: the signed-in user's (`user`: no session, 401),
     * the user's when signed in and none otherwise (`user-optional`: public pages), the
     * broker's own client-credentials token (`client`: still only for a signed-in user), or
     * none (`none`: a public upstream on the same origin, no session needed).
     */
    token: oneOf(API_TOKEN_KINDS).default('user'),
    /** Scopes asked for on the client-credentials grant of a `client` route. */
    clientScopes: scopeList.default([]),
    /**
     * RFC 8707 resource indicator: the upstream gets a token for this audience (the user's,
     * obtained with the session's refresh token; or, on a `client` route, the broker's).
     */
    resource: resourceUri.optional(),
    /**
     * How a user route's token for `resource`/`audience` is obtained: with the session's refresh
     * token naming the resource (`refresh_token`, RFC 8707), or by exchanging the user's own
     * fresh access token for one (`token_exchange`, RFC 8693).
     */
    grant: oneOf(ROUTE_GRANTS).default('refresh_token'),
    /** RFC 8693 §2.1 logical audience of the exchanged token (only with `token_exchange`). */
    audience: audienceName.optional(),
    /** Scopes the token the upstream gets must have been granted, else 403 forbidden. */
    scopes: scopeList.default([]),
    /**
     * ID token claims the session must have, by value (a claim that is a list, such as
     * groups, must contain it; a list here accepts any of its values), else 403 forbidden.
     */
    claims: z
      .record(z.string().min(1), z.union([z.string(), z.array(z.string()).min(1)]))
      .default({}),
    /** This upstream's timeout in seconds (default: UPSTREAM_TIMEOUT_SECONDS). */
    timeoutSeconds: seconds(1).max(600).optional(),
    /**
     * WebSocket handshakes are proxied (Origin must be the public origin; the socket holds one
     * of the session's in-flight slots and is closed with 4401 when the session ends).
     */
    websocket: z.boolean().default(false),
    /**
     * Step-up: the session's sign-in must have reached one of these authentication context
     * classes (ID token acr), else 401 step_up_required with the sign-in URL that asks for them.
     */
    acr: z
      .union([acrValue, z.array(acrValue).min(1)])
      .transform((v) => (typeof v === 'string' ? [v] : v))
      .optional(),
    /** Step-up: the user must have authenticated at most this long ago (auth_time), else as acr. */
    authMaxAgeSeconds: seconds(1)
      .max(366 * 86_400)
      .optional(),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `expected only the route options ${ROUTE_OPTIONS.join(', ')} (unknown: ${issue.keys.join(', ')})`
        : undefined,
  },
)

/** `limit` requests per `windowSeconds`, or null for no limit. */
const rateLimit = z
  .object(
    {
      limit: z.number().int().min(1, 'expected at least 1 request per window'),
      windowSeconds: z.number().int().min(1).max(86400),
    },
    { error: 'expected <requests>/<seconds> such as 30/60, or off' },
  )
  .nullable()

const tokenKey = z.object({
  id: z.number().int().positive(),
  key: z.string().refine((v) => decodeKey(v) !== null, {
    error: 'expected every token encryption key to be 32 random bytes in base64',
  }),
})

const cookieSecret = z.object({
  id: z.number().int().positive(),
  secret: z.string().min(32, 'expected every cookie secret to be at least 32 characters'),
})

/** The broker's options, whether they come from the environment or from `createBff(options)`. */
export const optionsSchema = z
  .object({
    publicUrl: absoluteUrl,
    issuer: absoluteUrl,
    clientId: z.string({ error: 'expected the client id registered at the provider' }).min(1),
    clientAuth: oneOf(CLIENT_AUTH_METHODS).default('client_secret_basic'),
    clientSecret: z.string().min(1).optional(),
    /**
     * At start and in readiness, check that the provider accepts the client credentials: one
     * refresh-grant call with a made-up token, which a provider answers invalid_grant for a
     * good client and invalid_client for a bad one. Off for a provider that cannot be probed so.
     */
    checkClient: z.boolean({ error: 'expected true or false' }).default(true),
    /** PKCS#8 PEM or a private JWK (JSON) for private_key_jwt. */
    clientPrivateKey: z.string().min(1).optional(),
    clientPrivateKeyAlg: oneOf(['RS256', 'PS256', 'ES256', 'EdDSA']).default('RS256'),
    scopes: scopeList.default(['openid', 'profile', 'email', 'offline_access']),
    /**
     * RFC 8707 resource indicator of the user's own access token: sent with the sign-in, the
     * code exchange and every refresh. Needed once a route names a `resource`, because the
     * sign-in then asks for every route's resource too.
     */
    resource: resourceUri.optional(),
    authorizationParams: z.record(z.string(), z.string()).default({}),
    /**
     * acr_values GET /auth/login may ask for beyond those the routes' `acr` name (a sign-in
     * link asking for any other is refused).
     */
    loginAcrValues: z.array(acrValue).default([]),
    /** max_age values (seconds) GET /auth/login may ask for beyond the routes' authMaxAgeSeconds. */
    loginMaxAges: z.array(seconds(0).max(366 * 86_400)).default([]),
    refreshParams: z.record(z.string(), z.string()).default({}),
    idTokenAlgorithms: z
      .array(oneOf(ID_TOKEN_ALGORITHMS))
      .min(1)
      .default(['RS256', 'PS256', 'ES256', 'EdDSA']),
    usePar: oneOf(['auto', 'always']).default('auto'),
    /**
     * RFC 9449 DPoP: `off`; `auto`, when the provider lists ES256 in
     * dpop_signing_alg_values_supported; `always`, and the broker is not ready without it.
     */
    dpop: oneOf(DPOP_MODES).default('off'),
    logoutUrl: absoluteUrl.optional(),
    /**
     * How the browser is sent to the end_session_endpoint: an auto-submitting POST form with
     * id_token_hint (RP-Initiated Logout 1.0 §2), or, for providers that refuse POST, a GET
     * without the ID token (client_id instead).
     */
    endSessionMethod: oneOf(['post', 'get']).default('post'),
    postLogoutRedirectUri: absoluteUrl.optional(),
    /** Where the signed-out page sends the browser once the provider's logout came back. */
    postLogoutReturnTo: z
      .string()
      // The same rule as returnTo (lib/return-to.ts), and already in normal form, so what the
      // browser is sent to is exactly what was configured.
      .refine((value) => validateReturnTo(value, 'https://broker.invalid') === value, {
        error:
          'expected a path on this site such as / or /signed-out (no scheme, no //, no backslash, no control or encoded separator characters)',
      })
      .default('/'),
    providerTimeoutSeconds: seconds(1).max(120).default(10),
    /**
     * How long a sent refresh request is still waited for (its answer stored) after the request
     * that started it got its 503 at OIDC_TIMEOUT_SECONDS: a rotating provider has spent the old
     * refresh token once it answers.
     */
    refreshAnswerWaitSeconds: seconds(1).max(600).default(60),
    /** Token revocation requests in flight at the provider, at most (see RevocationQueue). */
    revocationConcurrency: z
      .number({ error: 'expected a whole number of requests' })
      .int()
      .min(1)
      .max(256)
      .default(8),
    /** Token revocations waiting for their turn, at most; past it they are dropped. */
    revocationBacklog: z
      .number({ error: 'expected a whole number of token revocations' })
      .int()
      .min(100)
      .max(1_000_000)
      .default(20_000),
    dangerouslyAllowHttpIssuer: z.boolean().default(false),
    cookieSecrets: z
      .array(cookieSecret, {
        error: 'expected comma-separated id:secret pairs, each secret 32+ characters',
      })
      .min(1, 'expected at least one cookie secret'),
    cookieName: z
      .string()
      .regex(/^__Host-[A-Za-z0-9_-]+$/, 'expected a cookie name starting with __Host-')
      .default('__Host-bff-session'),
    /** AES-256-GCM keys for the token fields at rest; the highest id encrypts, all decrypt. */
    tokenEncryptionKeys: z
      .array(tokenKey, { error: 'expected comma-separated id:base64-key pairs' })
      .default([]),
    redisUrl: z
      .url({ protocol: /^rediss?$/, error: 'expected a redis:// or rediss:// URL' })
      .optional(),
    redisKeyPrefix: z
      .string()
      .regex(/^[A-Za-z0-9:_-]*$/)
      .default('bff:'),
    /** Redis Cluster seed nodes (`host:port`); selects cluster mode instead of redisUrl. */
    redisClusterNodes: z.array(hostPort).min(1).optional(),
    /** Redis Sentinel nodes (`host:port`); selects sentinel mode with redisSentinelName. */
    redisSentinels: z.array(hostPort).min(1).optional(),
    redisSentinelName: z.string().min(1).optional(),
    /** Password for cluster and sentinel mode (a standalone URL carries its own). */
    redisPassword: z.string().min(1).optional(),
    /** A store command that takes longer fails (503) instead of queueing. */
    redisCommandTimeoutMs: z
      .number({ error: 'expected a whole number of milliseconds' })
      .int()
      .min(50)
      .max(60_000)
      .default(1000),
    /**
     * Replicas that must have a session write or a refresh lock (Redis WAIT) before it counts:
     * a failover then cannot lose a signed-in session or a held lock. 0: not waited for.
     */
    redisWaitReplicas: z
      .number({ error: 'expected a whole number of replicas' })
      .int()
      .min(0)
      .max(10)
      .default(0),
    /** How long the store's circuit refuses commands after a failure before one probes it. */
    storeCircuitProbeMs: milliseconds(100, 60_000).default(500),
    /** The same for the provider's token endpoint. */
    providerCircuitProbeMs: milliseconds(100, 300_000).default(2000),
    apiRoutes: z.array(apiRoute).default([]),
    upstreamTimeoutSeconds: seconds(1).max(600).default(30),
    /** Consecutive connection failures or timeouts that open an upstream's circuit (0: never). */
    upstreamCircuitFailures: z
      .number({ error: 'expected a whole number of failures' })
      .int()
      .min(0)
      .max(1000)
      .default(5),
    upstreamCircuitProbeMs: milliseconds(100, 300_000).default(5000),
    /** An /api request body must have arrived this long after the broker began reading it (408). */
    requestBodyTimeoutSeconds: seconds(1).max(600).default(10),
    /** A browser that reads nothing of a proxied answer this long is disconnected. */
    responseStallTimeoutSeconds: seconds(1).max(3600).default(30),
    /** /api requests one session may have in progress on one instance (429 past it). */
    apiMaxInFlightPerSession: z
      .number({ error: 'expected a whole number of requests' })
      .int()
      .min(1)
      .max(10_000)
      .default(32),
    sessionIdleTimeoutSeconds: seconds(60).default(1800),
    sessionAbsoluteTimeoutSeconds: seconds(60).default(28800),
    /**
     * How long an instance may serve a session from memory (0: never), a bound on changes
     * that bypass the change feed; changes through the broker reach every instance at once.
     */
    sessionCacheSeconds: seconds(0).max(300).default(30),
    refreshBufferSeconds: seconds(0).default(60),
    defaultAccessTokenLifetimeSeconds: seconds(10).default(300),
    csrfHeaderName: z
      .string()
      .regex(/^x-[a-z0-9-]+$/, 'expected a lower-case custom header name such as x-csrf')
      .default('x-csrf'),
    userClaims: z
      .array(z.string().min(1))
      .default([
        'sub',
        'name',
        'given_name',
        'family_name',
        'preferred_username',
        'email',
        'email_verified',
        'picture',
        'locale',
      ]),
    staticDir: z.string().min(1).optional(),
    /** Bearer token for GET /metrics on the public port; unset → not served there. */
    metricsToken: z
      .string()
      .min(32, 'expected a metrics token of at least 32 characters')
      .optional(),
    /** Proxies (CIDR) whose X-Forwarded-For is believed; empty: the TCP peer is the client. */
    trustedProxies: z
      .array(
        z.string().refine((v) => parseCidr(v) !== null, {
          error: 'expected CIDR ranges such as 10.0.0.0/8 or ::1/128',
        }),
      )
      .default([]),
    /** Per client address: GET /auth/login. */
    rateLimitLogin: rateLimit.default({ limit: 120, windowSeconds: 60 }),
    /** Per client address: GET /auth/callback. */
    rateLimitCallback: rateLimit.default({ limit: 120, windowSeconds: 60 }),
    /** Per client address (the provider's): POST /auth/backchannel-logout. */
    rateLimitBackchannel: rateLimit.default({ limit: 600, windowSeconds: 60 }),
    /** Per session: /api/**. */
    rateLimitApi: rateLimit.default({ limit: 1200, windowSeconds: 60 }),
    /** Largest request body /api forwards; larger ones get 413 payload_too_large. */
    maxBodyBytes: z
      .number({ error: 'expected a number of bytes' })
      .int()
      .min(1024)
      .max(1024 ** 3)
      .default(1024 * 1024),
    /** Request bodies this process holds in memory at once, all requests together (503 past it). */
    maxBufferedBodyBytes: z
      .number({ error: 'expected a number of bytes' })
      .int()
      .min(1024)
      .max(64 * 1024 ** 3)
      .default(128 * 1024 * 1024),
  })
  .superRefine((o, ctx) => {
    const issue = (path: string, message: string) =>
      ctx.addIssue({ code: 'custom', path: [path], message })
    const redisModes = [o.redisUrl, o.redisClusterNodes, o.redisSentinels].filter(Boolean)
    if (redisModes.length > 1) {
      issue('redisUrl', 'expected only one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS')
    }
    const maxAge = o.authorizationParams.max_age
    if (maxAge !== undefined && !/^\d+$/.test(maxAge)) {
      issue('authorizationParams', 'expected max_age as whole seconds (it is enforced on sign-in)')
    }
    if (o.redisWaitReplicas > 0 && o.redisClusterNodes) {
      issue('redisWaitReplicas', 'expected 0 with REDIS_CLUSTER_NODES (WAIT is per node there)')
    }
    if (o.redisSentinels && !o.redisSentinelName) {
      issue('redisSentinelName', 'expected the monitored master name with REDIS_SENTINELS')
    }
    if (o.clientAuth.startsWith('client_secret') && !o.clientSecret) {
      issue(
        'clientSecret',
        `expected a client secret when client authentication is ${o.clientAuth}`,
      )
    }
    if (o.clientAuth === 'private_key_jwt' && !o.clientPrivateKey) {
      issue('clientPrivateKey', 'expected a private key (PKCS#8 PEM or JWK) for private_key_jwt')
    }
    if (o.issuer.startsWith('http:') && !o.dangerouslyAllowHttpIssuer) {
      issue(
        'issuer',
        'expected an https issuer (set DANGEROUSLY_ALLOW_HTTP_ISSUER=true for local development only)',
      )
    }
    const publicUrl = URL.canParse(o.publicUrl) ? new URL(o.publicUrl) : undefined
    if (publicUrl && publicUrl.pathname !== '/') {
      issue('publicUrl', 'expected an origin without a path, such as https://app.example.com')
    }
    if (
      publicUrl?.protocol === 'http:' &&
      !['localhost', '127.0.0.1', '[::1]'].includes(publicUrl.hostname)
    ) {
      issue(
        'publicUrl',
        'expected https (browsers refuse Secure __Host- cookies over http except on localhost)',
      )
    }
    if (o.sessionAbsoluteTimeoutSeconds < o.sessionIdleTimeoutSeconds) {
      issue(
        'sessionAbsoluteTimeoutSeconds',
        'expected an absolute timeout at least as long as the idle timeout',
      )
    }
    if (!o.scopes.includes('openid')) issue('scopes', 'expected the scopes to include openid')
    const ids = new Set(o.cookieSecrets.map((s) => s.id))
    if (ids.size !== o.cookieSecrets.length)
      issue('cookieSecrets', 'expected distinct cookie secret ids')
    const keyIds = new Set(o.tokenEncryptionKeys.map((k) => k.id))
    if (keyIds.size !== o.tokenEncryptionKeys.length)
      issue('tokenEncryptionKeys', 'expected distinct token encryption key ids')
    // Production (an https public URL) with Redis must encrypt tokens at rest; a localhost
    // development setup (plain http, e.g. the Compose stack) only gets a warning at start.
    if (o.redisUrl && publicUrl?.protocol === 'https:' && o.tokenEncryptionKeys.length === 0) {
      issue(
        'tokenEncryptionKeys',
        'expected at least one key when REDIS_URL is set (tokens are encrypted at rest); make one with: openssl rand -base64 32',
      )
    }
    if (o.maxBufferedBodyBytes < o.maxBodyBytes) {
      issue('maxBufferedBodyBytes', 'expected at least MAX_BODY_BYTES')
    }
    const userResource = o.apiRoutes.find(signInAsksFor)
    if (userResource && o.resource === undefined) {
      issue(
        'resource',
        `expected the audience of the user's own token, since ${userResource.prefix} names a resource (the sign-in then asks for every resource, and a provider may issue the user's token for any of them)`,
      )
    }
    const prefixes = new Set(o.apiRoutes.map((r) => r.prefix))
    if (prefixes.size !== o.apiRoutes.length) issue('apiRoutes', 'expected each /api prefix once')
    for (const route of o.apiRoutes) {
      if (route.scopes.length > 0 && route.token !== 'user') {
        issue('apiRoutes', `${route.prefix}: expected token user with scopes`)
      }
      if (Object.keys(route.claims).length > 0 && !['user', 'client'].includes(route.token)) {
        issue('apiRoutes', `${route.prefix}: expected token user or client with claims`)
      }
      const stepUp = route.acr !== undefined || route.authMaxAgeSeconds !== undefined
      if (stepUp && !['user', 'client'].includes(route.token)) {
        issue(
          'apiRoutes',
          `${route.prefix}: expected token user or client with acr or authMaxAgeSeconds`,
        )
      }
      if (route.clientScopes.length > 0 && route.token !== 'client') {
        issue('apiRoutes', `${route.prefix}: expected token client with clientScopes`)
      }
      if (route.resource !== undefined && route.token === 'none') {
        issue(
          'apiRoutes',
          `${route.prefix}: expected token user, user-optional or client with resource`,
        )
      }
      if (route.audience !== undefined && route.grant !== 'token_exchange') {
        issue('apiRoutes', `${route.prefix}: expected grant token_exchange with audience`)
      }
      if (route.grant === 'token_exchange') {
        if (route.token !== 'user' && route.token !== 'user-optional') {
          // A client route's token is the broker's own (client credentials, which can name the
          // resource itself); a none route has no token. Neither has a user token to exchange.
          issue(
            'apiRoutes',
            `${route.prefix}: expected token user or user-optional with grant token_exchange (it exchanges the user's token)`,
          )
        } else if (route.resource === undefined && route.audience === undefined) {
          issue(
            'apiRoutes',
            `${route.prefix}: expected resource or audience with grant token_exchange`,
          )
        }
      }
      if (
        route.token !== 'client' &&
        route.resource !== undefined &&
        route.resource === o.resource
      ) {
        issue(
          'apiRoutes',
          `${route.prefix}: expected a resource other than OIDC_RESOURCE (the user's own token is for that one; leave resource out)`,
        )
      }
      for (const claim of Object.keys(route.claims).filter((c) => !o.userClaims.includes(c))) {
        issue(
          'apiRoutes',
          `${route.prefix}: expected the claim ${claim} in USER_CLAIMS (the session keeps only those)`,
        )
      }
      for (const name of route.forwardHeaders.filter((n) => neverForwarded(n, o.csrfHeaderName))) {
        issue(
          'apiRoutes',
          `${route.prefix}: ${name} cannot be forwarded (the broker sets it, or it is a credential, hop-by-hop or forwarding header)`,
        )
      }
    }
  })

export type BffOptions = z.input<typeof optionsSchema>
export type BffConfig = Readonly<z.output<typeof optionsSchema>>
