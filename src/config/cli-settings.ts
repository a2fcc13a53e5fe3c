import { z } from 'zod'
import { ConfigError } from './config-error.js'
import { envNames } from './load-env.js'
import { formatIssues } from './parse-options.js'

type Env = Record<string, string | undefined>

/** The operator CLI needs only the store, and the issuer as a default for `--iss`. */
const cliSchema = z.object({
  REDIS_URL: z.url({ protocol: /^rediss?$/, error: 'expected a redis:// or rediss:// URL' }),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]*$/, 'expected letters, digits, : _ -')
    .default('bff:'),
  OIDC_ISSUER: z
    .url({ protocol: /^https?$/, error: 'expected an absolute http(s) URL' })
    .optional(),
})

export interface CliSettings {
  redisUrl: string
  redisKeyPrefix: string
  issuer?: string
}

export function loadCliSettings(env: Env = process.env): CliSettings {
  const names = [envNames.redisUrl, envNames.redisKeyPrefix, envNames.issuer]
  const picked = Object.fromEntries(
    names.map((name) => [name, env[name]?.trim()]).filter(([, value]) => value),
  )
  const result = cliSchema.safeParse(picked)
  if (!result.success) {
    throw new ConfigError(formatIssues(result.error.issues, (path) => path.map(String).join('.')))
  }
  const s = result.data
  return {
    redisUrl: s.REDIS_URL,
    redisKeyPrefix: s.REDIS_KEY_PREFIX,
    ...(s.OIDC_ISSUER ? { issuer: s.OIDC_ISSUER } : {}),
  }
}
