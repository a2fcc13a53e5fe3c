import type { Context, MiddlewareHandler } from 'hono'
import { addressBucket, clientAddress, type TrustedProxies } from '../lib/client-address.js'
import type { RateLimiter } from '../rate-limit/rate-limiter.js'

export interface AddressRateLimitOptions {
  /** null: this route is not limited (the setting is `off`). */
  limiter: RateLimiter | null
  trusted: TrustedProxies
  /** How this route answers errors (an HTML page for navigations, JSON for the provider). */
  render: (c: Context, error: unknown) => Response
}

/**
 * Counts requests per client address (from trusted proxy hops only, see client-address.ts;
 * an IPv6 address by its /64)
 * before the route does any work: past the limit, 429 with Retry-After.
 */
export function rateLimitByAddress(options: AddressRateLimitOptions): MiddlewareHandler {
  const { limiter, trusted, render } = options
  return async function rateLimit(c, next) {
    if (!limiter) return next()
    try {
      // By /64 for IPv6, as the connection cap counts (one subscriber holds the whole /64).
      await limiter.count(addressBucket(clientAddress(c, trusted)))
    } catch (error) {
      return render(c, error)
    }
    await next()
  }
}
