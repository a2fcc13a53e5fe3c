import { z } from 'zod'
import { ConfigError } from './config-error.js'
import { formatIssues } from './parse-options.js'
import { parseServerLimits, type ServerLimits, type ServerLimitsOptions } from './server-limits.js'

type Env = Record<string, string | undefined>

const otlpUrl = z.url({ protocol: /^https?$/, error: 'expected an absolute http(s) URL' })
const otlpProtocol = z.enum(['http/json'], {
  error:
    'expected http/json (the broker sends OTLP over HTTP as JSON; grpc and http/protobuf are not supported)',
})

/**
 * OTEL_TRACES_SAMPLER values the broker takes. Whichever is set, the broker decides for each
 * request itself (observability/tracing-sdk.ts): the parentbased_ variants name the default.
 */
const TRACES_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const

/** The standard OpenTelemetry variables the broker reads (see tracingFrom). */
const tracingSchema = z.object({
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'none'], { error: 'expected otlp or none' }).optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl.optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpUrl.optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: otlpProtocol.optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: otlpProtocol.optional(),
  OTEL_SERVICE_NAME: z.string().min(1).max(256).default('session-broker'),
  OTEL_TRACES_SAMPLER: z
    .enum(TRACES_SAMPLERS, { error: `expected one of ${TRACES_SAMPLERS.join(', ')}` })
    .default('parentbased_always_on'),
  OTEL_TRACES_SAMPLER_ARG: z.coerce
    .number({ error: 'expected a sampling ratio from 0 to 1' })
    .min(0, 'expected a sampling ratio from 0 to 1')
    .max(1, 'expected a sampling ratio from 0 to 1')
    .optional(),
})

/** Where traces go, when the standalone server exports them (observability/tracing-sdk.ts). */
export interface TracingSettings {
  /** The OTLP/HTTP traces URL (…/v1/traces). */
  url: string
  serviceName: string
  /** The share of requests whose spans are recorded, from 0 to 1 (OTEL_TRACES_SAMPLER[_ARG]). */
  sampleRatio: number
}

/** OTLP/HTTP's default traces URL (OTel exporter specification). */
const DEFAULT_TRACES_URL = 'http://localhost:4318/v1/traces'

/**
 * Tracing is on when an OTLP endpoint is set or OTEL_TRACES_EXPORTER=otlp (then to the OTLP
 * default, localhost:4318), and off with OTEL_TRACES_EXPORTER=none or with none of them. As
 * the OTel specification says: the traces endpoint is used as it is, the general one gets
 * `v1/traces` appended.
 */
function tracingFrom(s: z.output<typeof tracingSchema>): TracingSettings | undefined {
  const base = s.OTEL_EXPORTER_OTLP_ENDPOINT
  const traces = s.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
  if (s.OTEL_TRACES_EXPORTER === 'none') return undefined
  if (s.OTEL_TRACES_EXPORTER === undefined && base === undefined && traces === undefined) {
    return undefined
  }
  const url =
    traces ?? (base === undefined ? DEFAULT_TRACES_URL : `${base.replace(/\/$/, '')}/v1/traces`)
  return { url, serviceName: s.OTEL_SERVICE_NAME, sampleRatio: sampleRatio(s) }
}

function sampleRatio(s: z.output<typeof tracingSchema>): number {
  if (s.OTEL_TRACES_SAMPLER.endsWith('always_off')) return 0
  if (s.OTEL_TRACES_SAMPLER.endsWith('traceidratio')) return s.OTEL_TRACES_SAMPLER_ARG ?? 1
  return 1
}

const serverSchema = z.object({
  PORT: z.coerce
    .number({ error: 'expected a TCP port number' })
    .int()
    .min(1)
    .max(65535)
    .default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SHUTDOWN_GRACE_SECONDS: z.coerce.number().int().min(0).max(600).default(10),
  METRICS_PORT: z.coerce
    .number({ error: 'expected a TCP port number' })
    .int()
    .min(1)
    .max(65535)
    .optional(),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  ...tracingSchema.shape,
})

/** Which environment variable feeds each connection limit (see server-limits.ts). */
const LIMIT_ENV_NAMES: Record<keyof ServerLimitsOptions, string> = {
  headersTimeoutSeconds: 'HEADERS_TIMEOUT_SECONDS',
  requestTimeoutSeconds: 'REQUEST_TIMEOUT_SECONDS',
  keepAliveTimeoutSeconds: 'KEEP_ALIVE_TIMEOUT_SECONDS',
  maxConnections: 'MAX_CONNECTIONS',
  maxConnectionsPerAddress: 'MAX_CONNECTIONS_PER_ADDRESS',
}

/** Names of the server process's own environment variables. */
export const serverEnvNames = [
  ...Object.keys(serverSchema.shape),
  ...Object.values(LIMIT_ENV_NAMES),
]

export interface ServerSettings {
  port: number
  host: string
  logLevel: z.output<typeof serverSchema>['LOG_LEVEL']
  shutdownGraceSeconds: number
  /** A separate port for GET /metrics without a token (keep it private). */
  metricsPort: number | undefined
  metricsHost: string
  /** Deadlines and connection caps of the public server (see http/limited-server.ts). */
  limits: ServerLimits
  /** OTLP trace export; undefined: the server registers no tracer provider. */
  tracing: TracingSettings | undefined
}

export interface ServerHost {
  /** The process's soft open-file limit (lib/open-file-limit.ts); MAX_CONNECTIONS must fit it. */
  openFileLimit?: number
}

/** Digits become numbers; anything else stays a string for the schema to refuse by name. */
function limitOptions(env: Env): ServerLimitsOptions {
  const options: Record<string, number | string> = {}
  for (const [option, name] of Object.entries(LIMIT_ENV_NAMES)) {
    const raw = env[name]?.trim()
    if (raw) options[option] = /^\d+$/.test(raw) ? Number(raw) : raw
  }
  return options as ServerLimitsOptions
}

function limitsFromEnv(env: Env, host: ServerHost, problems: string[]): ServerLimits | undefined {
  try {
    return parseServerLimits(limitOptions(env), {
      openFileLimit: host.openFileLimit,
      nameOf: (path) =>
        LIMIT_ENV_NAMES[path[0] as keyof ServerLimitsOptions] ?? path.map(String).join('.'),
    })
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    problems.push(...error.issues)
    return undefined
  }
}

/** Settings of the standalone server process (not of the broker library). */
export function loadServerSettings(env: Env = process.env, host: ServerHost = {}): ServerSettings {
  const picked = Object.fromEntries(
    Object.keys(serverSchema.shape)
      .map((name) => [name, env[name]?.trim()])
      .filter(([, value]) => value !== undefined && value !== ''),
  )
  const result = serverSchema.safeParse(picked)
  const problems = result.success
    ? []
    : formatIssues(result.error.issues, (path) => path.map(String).join('.'))
  const limits = limitsFromEnv(env, host, problems)
  if (!result.success || !limits) throw new ConfigError(problems)
  const s = result.data
  return {
    port: s.PORT,
    host: s.HOST,
    logLevel: s.LOG_LEVEL,
    shutdownGraceSeconds: s.SHUTDOWN_GRACE_SECONDS,
    metricsPort: s.METRICS_PORT,
    metricsHost: s.METRICS_HOST,
    limits,
    tracing: tracingFrom(s),
  }
}
