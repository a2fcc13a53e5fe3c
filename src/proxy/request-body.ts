import type { IncomingMessage } from 'node:http'
import { BffError } from '../errors/bff-error.js'

export interface BodyLimits {
  maxBytes: number
  /** The whole body must have arrived this long after reading began (408 request_timeout). */
  timeoutMs: number
}

/** The browser went away while its body was being read: nothing to answer. */
export class BodyAbandoned extends Error {}

const tooLarge = (max: number) =>
  new BffError('payload_too_large', { detail: `request body over ${max} bytes` })
const tooSlow = (ms: number) =>
  new BffError('request_timeout', { detail: `request body incomplete after ${ms} ms` })

/**
 * Reads a request body completely, in memory, before any upstream connection is taken (as
 * nginx does by default): a client that trickles its body holds only its own socket, never a
 * pooled upstream connection. Bounded in size (413) and time (408). A body the declared
 * Content-Length already puts over the limit was refused before this (body-limit.ts); a
 * chunked one is counted here. Node's parser guarantees a body is exactly its Content-Length.
 */
export function readNodeBody(incoming: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let seen = 0
    const finish = (error?: Error) => {
      clearTimeout(timer)
      incoming.off('data', onData)
      incoming.off('end', onEnd)
      incoming.off('error', onGone)
      incoming.off('close', onClose)
      if (error) {
        // Whatever is still coming is not wanted: stop reading, let the socket drain or close.
        incoming.pause()
        reject(error)
      } else {
        resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, seen))
      }
    }
    const onData = (chunk: Buffer) => {
      seen += chunk.length
      if (seen > limits.maxBytes) return finish(tooLarge(limits.maxBytes))
      chunks.push(chunk)
    }
    const onEnd = () => finish()
    const onGone = () => finish(new BodyAbandoned('the browser left during its request body'))
    const onClose = () => {
      if (!incoming.complete) onGone()
    }
    const timer = setTimeout(() => finish(tooSlow(limits.timeoutMs)), limits.timeoutMs)
    if (incoming.readableEnded) return finish()
    incoming.on('data', onData)
    incoming.once('end', onEnd)
    incoming.once('error', onGone)
    incoming.once('close', onClose)
  })
}

/** The same for a fetch Request's body (the portable path): read completely, bounded. */
export async function readWebBody(
  body: ReadableStream<Uint8Array> | null,
  limits: BodyLimits,
): Promise<Buffer> {
  if (!body) return Buffer.alloc(0)
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let seen = 0
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(tooSlow(limits.timeoutMs)), limits.timeoutMs)
  })
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), deadline])
      if (done) break
      seen += value.byteLength
      if (seen > limits.maxBytes) throw tooLarge(limits.maxBytes)
      chunks.push(value)
    }
    return Buffer.concat(chunks, seen)
  } catch (error) {
    void reader.cancel().catch(() => {})
    throw error
  } finally {
    clearTimeout(timer)
  }
}
