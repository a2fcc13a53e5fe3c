import type { MiddlewareHandler } from 'hono'
import { randomId } from '../lib/random.js'

/** Gives every request an id for logs and error bodies. Incoming ids are not trusted (yet). */
export function requestId(): MiddlewareHandler {
  return async function requestIdMiddleware(c, next) {
    c.set('requestId', randomId(9))
    await next()
  }
}
