import type { HttpBindings } from '@hono/node-server'
import type { MiddlewareHandler } from 'hono'
import { BffError } from '../errors/bff-error.js'
import { renderJsonError } from '../errors/render.js'

/**
 * Refuses request bodies over `maxBytes` with 413 payload_too_large. A declared
 * Content-Length is checked before anything is read; a chunked body is counted as it streams
 * (it is never buffered), and the stream fails with the same error once it passes the limit,
 * which aborts the upstream request and becomes the answer. Node's parser guarantees a body
 * is exactly its Content-Length (RFC 9112 §6.3), so the declared length can be trusted.
 */
export function limitRequestBody(maxBytes: number): MiddlewareHandler {
  if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new Error('maxBytes must be positive')
  const tooLarge = (detail: string) => new BffError('payload_too_large', { detail })
  return async function bodyLimit(c, next) {
    // Headers only: touching the body here would start consuming it.
    const declared = c.req.header('content-length')
    if (c.req.header('transfer-encoding') === undefined) {
      if (declared !== undefined && Number(declared) > maxBytes) {
        return renderJsonError(c, tooLarge(`content-length ${declared} over ${maxBytes}`))
      }
      return next()
    }
    if ((c.env as Partial<HttpBindings> | undefined)?.incoming) {
      // The proxy's node fast path pipes the request itself and counts as it goes.
      c.set('streamingBodyLimit', maxBytes)
      return next()
    }
    const raw = c.req.raw
    if (!raw.body) return next()
    let seen = 0
    const counted = raw.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          seen += chunk.byteLength
          if (seen > maxBytes) controller.error(tooLarge(`chunked body over ${maxBytes}`))
          else controller.enqueue(chunk)
        },
      }),
    )
    c.req.raw = new Request(raw, { body: counted, duplex: 'half' } as RequestInit)
    await next()
  }
}
