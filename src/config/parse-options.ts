import type { z } from 'zod'
import { ConfigError } from './config-error.js'
import { type BffConfig, type BffOptions, optionsSchema } from './schema.js'

type NameOf = (path: readonly PropertyKey[]) => string

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner)
    Object.freeze(value)
  }
  return value
}

export function formatIssues(issues: readonly z.core.$ZodIssue[], nameOf: NameOf): string[] {
  return issues.map((issue) => `${nameOf(issue.path)}: ${issue.message}`)
}

/** Validates options once, reports every issue at once, and freezes the result. */
export function parseOptions(
  options: BffOptions,
  nameOf: NameOf = (path) => path.map(String).join('.') || 'options',
): BffConfig {
  const result = optionsSchema.safeParse(options)
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues, nameOf))
  return deepFreeze(result.data)
}
