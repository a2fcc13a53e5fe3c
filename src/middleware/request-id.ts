import type { MiddlewareHandler } from 'hono'
import { isTrustedPeer, type TrustedProxies } from '../lib/client-address.js'
import { correlationId } from '../lib/random.js'

/** What an accepted incoming id may look like: it ends up in logs and error bodies. */
const ACCEPTABLE_ID = /^[A-Za-z0-9._:-]{1,128}$/

/**
 * Gives every request an id for logs and error bodies (and echoes it as `X-Request-Id`).
 * An incoming `X-Request-Id` is kept only from a trusted proxy and only if it is a plain
 * token; from anyone else it is ignored, so clients cannot forge log correlation.
 */
export function requestId(trusted: TrustedProxies): MiddlewareHandler {
  return async function requestIdMiddleware(c, next) {
    const incoming = c.req.header('x-request-id')
    const accepted = incoming && ACCEPTABLE_ID.test(incoming) && isTrustedPeer(c, trusted)
    const id = accepted ? incoming : correlationId()
    c.set('requestId', id)
    await next()
    if (c.get('proxiedStatus') === undefined) c.header('X-Request-Id', id)
  }
}
