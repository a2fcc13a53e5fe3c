import { z } from 'zod'
import { ConfigError } from './config-error.js'
import { formatIssues } from './parse-options.js'

type Env = Record<string, string | undefined>

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
})

/** Names of the server process's own environment variables. */
export const serverEnvNames = Object.keys(serverSchema.shape)

export interface ServerSettings {
  port: number
  host: string
  logLevel: z.output<typeof serverSchema>['LOG_LEVEL']
  shutdownGraceSeconds: number
  /** A separate port for GET /metrics without a token (keep it private). */
  metricsPort: number | undefined
  metricsHost: string
}

/** Settings of the standalone server process (not of the broker library). */
export function loadServerSettings(env: Env = process.env): ServerSettings {
  const picked = Object.fromEntries(
    Object.keys(serverSchema.shape)
      .map((name) => [name, env[name]?.trim()])
      .filter(([, value]) => value !== undefined && value !== ''),
  )
  const result = serverSchema.safeParse(picked)
  if (!result.success) {
    throw new ConfigError(formatIssues(result.error.issues, (path) => path.map(String).join('.')))
  }
  const s = result.data
  return {
    port: s.PORT,
    host: s.HOST,
    logLevel: s.LOG_LEVEL,
    shutdownGraceSeconds: s.SHUTDOWN_GRACE_SECONDS,
    metricsPort: s.METRICS_PORT,
    metricsHost: s.METRICS_HOST,
  }
}
