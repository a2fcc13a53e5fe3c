import type { MiddlewareHandler } from 'hono'
import { BffError } from '../errors/bff-error.js'
import { renderJsonError } from '../errors/render.js'

/**
 * Refuses a request whose declared Content-Length is over `maxBytes` with 413
 * payload_too_large, before the session is looked at or anything is read. A chunked body is
 * counted by the proxy as it reads it (proxy/request-body.ts, or as it streams on a route
 * that streams), with the same error past the limit. Node's parser guarantees a body is
 * exactly its Content-Length (RFC 9112 §6.3), so the declared length can be trusted.
 */
export function limitRequestBody(maxBytes: number): MiddlewareHandler {
  if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new Error('maxBytes must be positive')
  return async function bodyLimit(c, next) {
    // Headers only: touching the body here would start consuming it.
    const declared = c.req.header('content-length')
    if (
      c.req.header('transfer-encoding') === undefined &&
      declared !== undefined &&
      Number(declared) > maxBytes
    ) {
      const detail = `content-length ${declared} over ${maxBytes}`
      return renderJsonError(c, new BffError('payload_too_large', { detail }))
    }
    await next()
  }
}
