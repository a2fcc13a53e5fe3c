import { z } from 'zod'
import { ConfigError } from './config-error.js'
import { formatIssues } from './parse-options.js'

/** Open connections when MAX_CONNECTIONS is unset, unless the open-file limit allows fewer. */
export const DEFAULT_MAX_CONNECTIONS = 10_000
/** Open connections per client address when MAX_CONNECTIONS_PER_ADDRESS is unset. */
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 500
/**
 * Client connections may take at most this share of the process's open-file limit. The rest is
 * for what they make the broker open: upstream sockets (undici keeps up to 256 per upstream
 * origin), Redis, the provider, log and static files. Past the limit `accept` fails and Node
 * closes every new connection without a word, /healthz included.
 */
const SHARE_OF_OPEN_FILES = 0.5

const seconds = (max: number) =>
  z
    .number({ error: 'expected a whole number of seconds' })
    .int({ error: 'expected a whole number of seconds' })
    .min(1)
    .max(max)
const connections = z
  .number({ error: 'expected a whole number of connections' })
  .int({ error: 'expected a whole number of connections' })
  .min(1)
  .max(1_000_000)

const limitsSchema = z
  .object({
    /** Deadline for a request's headers, from its first byte (or from the connection's start). */
    headersTimeoutSeconds: seconds(300).default(10),
    /** Deadline for the whole request, headers and body, from the same start. */
    requestTimeoutSeconds: seconds(3600).default(30),
    /** An idle keep-alive connection is closed this long after its last answer. */
    keepAliveTimeoutSeconds: seconds(300).default(5),
    maxConnections: connections.optional(),
    maxConnectionsPerAddress: connections.optional(),
  })
  .superRefine((v, ctx) => {
    if (v.requestTimeoutSeconds < v.headersTimeoutSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['requestTimeoutSeconds'],
        message: `expected at least the headers timeout (${v.headersTimeoutSeconds}): the request deadline includes the headers`,
      })
    }
  })

/** What a caller may set; every field has a default. */
export type ServerLimitsOptions = z.input<typeof limitsSchema>

/** The limits in force: validated, defaults applied, frozen. */
export interface ServerLimits {
  headersTimeoutSeconds: number
  requestTimeoutSeconds: number
  keepAliveTimeoutSeconds: number
  /** Open connections in all; the next one is closed at once. */
  maxConnections: number
  /** Open connections per client address (an IPv6 client's /64); trusted proxies are exempt. */
  maxConnectionsPerAddress: number
}

type NameOf = (path: readonly PropertyKey[]) => string

export interface ParseLimitsContext {
  /** The process's soft open-file limit (see lib/open-file-limit.ts); undefined: not known. */
  openFileLimit: number | undefined
  /** How an option is named in errors (the standalone server names environment variables). */
  nameOf?: NameOf
}

/**
 * Validates the connection limits, reports every issue at once, and fits the connection cap
 * under the open-file limit: a MAX_CONNECTIONS that cannot fit is a configuration error, and
 * the default is lowered to fit.
 */
export function parseServerLimits(
  options: ServerLimitsOptions,
  context: ParseLimitsContext,
): ServerLimits {
  const nameOf = context.nameOf ?? ((path) => path.map(String).join('.'))
  const result = limitsSchema.safeParse(options)
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues, nameOf))
  const v = result.data
  const problems: string[] = []
  const fit =
    context.openFileLimit === undefined
      ? undefined
      : Math.floor(context.openFileLimit * SHARE_OF_OPEN_FILES)
  if (v.maxConnections !== undefined && fit !== undefined && v.maxConnections > fit) {
    problems.push(
      `${nameOf(['maxConnections'])}: ${v.maxConnections} does not fit the process's open-file limit of ${context.openFileLimit} (ulimit -n): expected at most ${fit}, half of it (the other half is for upstream, Redis and provider sockets); lower it or raise the limit`,
    )
  }
  const maxConnections = v.maxConnections ?? Math.min(DEFAULT_MAX_CONNECTIONS, fit ?? Infinity)
  if (v.maxConnectionsPerAddress !== undefined && v.maxConnectionsPerAddress > maxConnections) {
    problems.push(
      `${nameOf(['maxConnectionsPerAddress'])}: expected at most ${nameOf(['maxConnections'])} (${maxConnections})`,
    )
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return Object.freeze({
    headersTimeoutSeconds: v.headersTimeoutSeconds,
    requestTimeoutSeconds: v.requestTimeoutSeconds,
    keepAliveTimeoutSeconds: v.keepAliveTimeoutSeconds,
    maxConnections,
    maxConnectionsPerAddress:
      v.maxConnectionsPerAddress ?? Math.min(DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, maxConnections),
  })
}
