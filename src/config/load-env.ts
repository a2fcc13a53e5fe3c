import { ConfigError } from './config-error.js'
import { parseOptions } from './parse-options.js'
import type { BffConfig, BffOptions } from './schema.js'

type Env = Record<string, string | undefined>

/** Which environment variable feeds each option; also used to name variables in errors. */
const ENV_NAMES: Record<keyof BffOptions, string> = {
  publicUrl: 'PUBLIC_URL',
  issuer: 'OIDC_ISSUER',
  clientId: 'OIDC_CLIENT_ID',
  clientAuth: 'OIDC_CLIENT_AUTH',
  clientSecret: 'OIDC_CLIENT_SECRET',
  checkClient: 'OIDC_CHECK_CLIENT',
  clientPrivateKey: 'OIDC_CLIENT_PRIVATE_KEY',
  clientPrivateKeyAlg: 'OIDC_CLIENT_PRIVATE_KEY_ALG',
  scopes: 'OIDC_SCOPES',
  resource: 'OIDC_RESOURCE',
  authorizationParams: 'OIDC_AUTH_PARAMS',
  dpop: 'OIDC_DPOP',
  loginAcrValues: 'LOGIN_ACR_VALUES',
  loginMaxAges: 'LOGIN_MAX_AGES',
  refreshParams: 'OIDC_REFRESH_PARAMS',
  idTokenAlgorithms: 'OIDC_ID_TOKEN_ALGS',
  usePar: 'OIDC_USE_PAR',
  logoutUrl: 'OIDC_LOGOUT_URL',
  endSessionMethod: 'OIDC_END_SESSION_METHOD',
  postLogoutRedirectUri: 'POST_LOGOUT_REDIRECT_URI',
  postLogoutReturnTo: 'POST_LOGOUT_RETURN_TO',
  providerTimeoutSeconds: 'OIDC_TIMEOUT_SECONDS',
  refreshAnswerWaitSeconds: 'REFRESH_ANSWER_WAIT_SECONDS',
  revocationConcurrency: 'REVOCATION_CONCURRENCY',
  revocationBacklog: 'REVOCATION_BACKLOG',
  dangerouslyAllowHttpIssuer: 'DANGEROUSLY_ALLOW_HTTP_ISSUER',
  cookieSecrets: 'COOKIE_SECRETS',
  cookieName: 'COOKIE_NAME',
  tokenEncryptionKeys: 'TOKEN_ENCRYPTION_KEYS',
  redisUrl: 'REDIS_URL',
  redisKeyPrefix: 'REDIS_KEY_PREFIX',
  redisClusterNodes: 'REDIS_CLUSTER_NODES',
  redisSentinels: 'REDIS_SENTINELS',
  redisSentinelName: 'REDIS_SENTINEL_NAME',
  redisPassword: 'REDIS_PASSWORD',
  redisCommandTimeoutMs: 'REDIS_COMMAND_TIMEOUT_MS',
  redisWaitReplicas: 'REDIS_WAIT_REPLICAS',
  storeCircuitProbeMs: 'STORE_CIRCUIT_PROBE_MS',
  providerCircuitProbeMs: 'PROVIDER_CIRCUIT_PROBE_MS',
  apiRoutes: 'API_ROUTES',
  upstreamTimeoutSeconds: 'UPSTREAM_TIMEOUT_SECONDS',
  upstreamCircuitFailures: 'UPSTREAM_CIRCUIT_FAILURES',
  upstreamCircuitProbeMs: 'UPSTREAM_CIRCUIT_PROBE_MS',
  requestBodyTimeoutSeconds: 'REQUEST_BODY_TIMEOUT_SECONDS',
  responseStallTimeoutSeconds: 'RESPONSE_STALL_TIMEOUT_SECONDS',
  apiMaxInFlightPerSession: 'API_MAX_IN_FLIGHT_PER_SESSION',
  sessionIdleTimeoutSeconds: 'SESSION_IDLE_TIMEOUT_SECONDS',
  sessionAbsoluteTimeoutSeconds: 'SESSION_ABSOLUTE_TIMEOUT_SECONDS',
  sessionCacheSeconds: 'SESSION_CACHE_SECONDS',
  refreshBufferSeconds: 'REFRESH_BUFFER_SECONDS',
  defaultAccessTokenLifetimeSeconds: 'DEFAULT_ACCESS_TOKEN_LIFETIME_SECONDS',
  csrfHeaderName: 'CSRF_HEADER_NAME',
  userClaims: 'USER_CLAIMS',
  staticDir: 'STATIC_DIR',
  metricsToken: 'METRICS_TOKEN',
  trustedProxies: 'TRUSTED_PROXIES',
  rateLimitLogin: 'RATE_LIMIT_LOGIN',
  rateLimitCallback: 'RATE_LIMIT_CALLBACK',
  rateLimitBackchannel: 'RATE_LIMIT_BACKCHANNEL',
  rateLimitApi: 'RATE_LIMIT_API',
  maxBodyBytes: 'MAX_BODY_BYTES',
  maxBufferedBodyBytes: 'MAX_BUFFERED_BODY_BYTES',
}

const list = (value: string) => value.split(/[\s,]+/).filter(Boolean)

function params(value: string): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(value))
}

function integer(value: string): number | string {
  return /^\d+$/.test(value) ? Number(value) : value
}

function boolean(value: string): boolean | string {
  if (value === 'true') return true
  if (value === 'false') return false
  return value
}

/** `1:secret-one,2:secret-two` — the highest id seals new cookies, all ids unseal. */
function cookieSecrets(value: string, problems: string[]) {
  return list(value).map((entry) => {
    const match = /^(\d+):(.+)$/.exec(entry)
    if (!match) {
      problems.push(
        `${ENV_NAMES.cookieSecrets}: expected comma-separated id:secret pairs such as 1:<32+ characters>`,
      )
      return { id: 0, secret: '' }
    }
    return { id: Number(match[1]), secret: match[2] as string }
  })
}

/** `30/60` — 30 requests per 60 seconds; `off` — no limit. */
function rateLimit(value: string): { limit: number; windowSeconds: number } | null | string {
  if (value === 'off') return null
  const match = /^(\d+)\/(\d+)$/.exec(value)
  return match ? { limit: Number(match[1]), windowSeconds: Number(match[2]) } : value
}

/** `1:<base64 of 32 bytes>,2:<…>` — the highest id encrypts, all ids decrypt. */
function tokenKeys(value: string, problems: string[]) {
  return list(value).map((entry) => {
    const match = /^(\d+):(.+)$/.exec(entry)
    if (!match) {
      problems.push(
        `${ENV_NAMES.tokenEncryptionKeys}: expected comma-separated id:key pairs such as 1:<openssl rand -base64 32>`,
      )
      return { id: 0, key: '' }
    }
    return { id: Number(match[1]), key: match[2] as string }
  })
}

/**
 * `/api/orders=https://orders.internal,/api/users=https://users.internal/v2`, or the same
 * table as JSON with per-route options:
 * `[{"prefix":"/api/files","upstream":"https://files.internal","stream":true}]`.
 */
function apiRoutes(value: string, problems: string[]) {
  if (value.startsWith('[')) {
    try {
      return JSON.parse(value) as unknown
    } catch (error) {
      problems.push(
        `${ENV_NAMES.apiRoutes}: expected a JSON array of routes (${(error as Error).message})`,
      )
      return []
    }
  }
  return list(value).map((entry) => {
    const at = entry.indexOf('=')
    if (at < 0) {
      problems.push(
        `${ENV_NAMES.apiRoutes}: expected comma-separated /api/prefix=https://upstream pairs`,
      )
      return { prefix: '', upstream: '' }
    }
    return { prefix: entry.slice(0, at), upstream: entry.slice(at + 1) }
  })
}

const converters: Partial<
  Record<keyof BffOptions, (value: string, problems: string[]) => unknown>
> = {
  scopes: list,
  idTokenAlgorithms: list,
  redisClusterNodes: list,
  redisSentinels: list,
  redisCommandTimeoutMs: integer,
  redisWaitReplicas: integer,
  storeCircuitProbeMs: integer,
  providerCircuitProbeMs: integer,
  upstreamCircuitFailures: integer,
  upstreamCircuitProbeMs: integer,
  userClaims: list,
  authorizationParams: params,
  loginAcrValues: list,
  loginMaxAges: (value: string) => list(value).map(integer),
  refreshParams: params,
  providerTimeoutSeconds: integer,
  refreshAnswerWaitSeconds: integer,
  revocationConcurrency: integer,
  revocationBacklog: integer,
  upstreamTimeoutSeconds: integer,
  requestBodyTimeoutSeconds: integer,
  responseStallTimeoutSeconds: integer,
  apiMaxInFlightPerSession: integer,
  sessionIdleTimeoutSeconds: integer,
  sessionAbsoluteTimeoutSeconds: integer,
  sessionCacheSeconds: integer,
  refreshBufferSeconds: integer,
  defaultAccessTokenLifetimeSeconds: integer,
  dangerouslyAllowHttpIssuer: boolean,
  checkClient: boolean,
  cookieSecrets,
  tokenEncryptionKeys: tokenKeys,
  apiRoutes,
  trustedProxies: list,
  rateLimitLogin: rateLimit,
  rateLimitCallback: rateLimit,
  rateLimitBackchannel: rateLimit,
  rateLimitApi: rateLimit,
  maxBodyBytes: integer,
  maxBufferedBodyBytes: integer,
}

/** Reads the broker's settings from the environment; throws one ConfigError listing every problem. */
export function loadConfigFromEnv(env: Env = process.env): BffConfig {
  const problems: string[] = []
  const options: Record<string, unknown> = {}
  for (const [option, name] of Object.entries(ENV_NAMES) as [keyof BffOptions, string][]) {
    const raw = env[name]?.trim()
    if (raw === undefined || raw === '') continue
    const convert = converters[option]
    options[option] = convert ? convert(raw, problems) : raw
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return parseOptions(options as BffOptions, (path) => {
    const head = path[0] as keyof BffOptions | undefined
    return head && ENV_NAMES[head] ? ENV_NAMES[head] : path.map(String).join('.')
  })
}

export const envNames = ENV_NAMES
