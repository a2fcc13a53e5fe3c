import type { Context, MiddlewareHandler } from 'hono'
import { clientAddress, type TrustedProxies } from '../lib/client-address.js'
import type { RateLimiter } from '../rate-limit/rate-limiter.js'

export interface AddressRateLimitOptions {
  /** null: this route is not limited (the setting is `off`). */
  limiter: RateLimiter | null
  trusted: TrustedProxies
  /** How this route answers errors (an HTML page for navigations, JSON for the provider). */
  render: (c: Context, error: unknown) => Response
}

/**
 * Counts requests per client address (from trusted proxy hops only, see client-address.ts)
 * before the route does any work: past the limit, 429 with Retry-After.
 */
export function rateLimitByAddress(options: AddressRateLimitOptions): MiddlewareHandler {
  const { limiter, trusted, render } = options
  return async function rateLimit(c, next) {
    if (!limiter) return next()
    try {
      await limiter.check(clientAddress(c, trusted))
    } catch (error) {
      return render(c, error)
    }
    await next()
  }
}
