import type { IncomingMessage } from 'node:http'
import { Readable, Transform } from 'node:stream'
import type { ReadableStream as NodeReadableStream } from 'node:stream/web'
import { BffError } from '../errors/bff-error.js'
import type { BodyBudget } from './body-budget.js'
import type { UpstreamHeaders } from './headers.js'
import type { UpstreamRoute } from './upstreams.js'

export interface BodyLimits {
  maxBytes: number
  /** The whole body must have arrived this long after reading began (408 request_timeout). */
  timeoutMs: number
  /** What every body read in this process holds together; the caller gives a body back. */
  budget: BodyBudget
}

/** The browser went away while its body was being read: nothing to answer. */
export class BodyAbandoned extends Error {}

const tooLarge = (max: number) =>
  new BffError('payload_too_large', { detail: `request body over ${max} bytes` })
const tooSlow = (ms: number) =>
  new BffError('request_timeout', { detail: `request body incomplete after ${ms} ms` })
const overBudget = (budget: BodyBudget) =>
  new BffError('server_busy', { detail: `request bodies held over ${budget.maxBytes} bytes` })

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
      if (error) limits.budget.give(seen)
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
      if (seen + chunk.length > limits.maxBytes) return finish(tooLarge(limits.maxBytes))
      if (!limits.budget.take(chunk.length)) return finish(overBudget(limits.budget))
      seen += chunk.length
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
      if (seen + value.byteLength > limits.maxBytes) throw tooLarge(limits.maxBytes)
      if (!limits.budget.take(value.byteLength)) throw overBudget(limits.budget)
      seen += value.byteLength
      chunks.push(value)
    }
    return Buffer.concat(chunks, seen)
  } catch (error) {
    limits.budget.give(seen)
    void reader.cancel().catch(() => {})
    throw error
  } finally {
    clearTimeout(timer)
  }
}

/** A request's body, from a node request or a fetch Request. */
export interface BodySource {
  /** The Content-Length the client declared (node's parser held the body to it). */
  declaredLength: string | undefined
  /** The body as it arrives. */
  stream(): Readable | null
  /** The whole body, bounded. */
  readWhole(limits: BodyLimits): Promise<Buffer>
}

export function nodeBodySource(incoming: IncomingMessage): BodySource {
  return {
    declaredLength: incoming.headers['content-length'],
    stream: () => incoming,
    readWhole: (limits) => readNodeBody(incoming, limits),
  }
}

export function webBodySource(request: Request): BodySource {
  return {
    declaredLength: request.headers.get('content-length') ?? undefined,
    stream: () => (request.body ? Readable.fromWeb(request.body as NodeReadableStream) : null),
    readWhole: (limits) => readWebBody(request.body, limits),
  }
}

/** Passes bytes through until `max`, then fails with payload_too_large (the body is never buffered). */
function countBytes(max: number): Transform {
  let seen = 0
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length
      if (seen <= max) return done(null, chunk)
      done(new BffError('payload_too_large', { detail: `chunked body over ${max}` }))
    },
  })
}

/**
 * The request body as the upstream gets it, with its length in `headers`. Read completely
 * first (bounded in size and time, and held against the process's body budget until the
 * caller gives it back with `releaseBody`), so a slow client never holds a pooled upstream
 * connection; streamed as it arrives only on a route that opts in (`stream`), counted
 * against the size limit as it goes when its length was not declared.
 */
export async function upstreamBody(
  source: BodySource,
  headers: UpstreamHeaders,
  route: UpstreamRoute,
  limits: { maxBodyBytes: number; bodyTimeoutMs: number; bodyBudget: BodyBudget },
): Promise<Readable | Buffer | null> {
  if (route.stream) {
    const declared = source.declaredLength
    if (declared !== undefined) headers['content-length'] = declared
    const body = source.stream()
    return declared === undefined ? (body?.pipe(countBytes(limits.maxBodyBytes)) ?? null) : body
  }
  const body = await source.readWhole({
    maxBytes: limits.maxBodyBytes,
    timeoutMs: limits.bodyTimeoutMs,
    budget: limits.bodyBudget,
  })
  if (body.length === 0) return null
  headers['content-length'] = String(body.length)
  return body
}

/** Gives a body read completely back to the budget once the upstream has it. */
export function releaseBody(body: Readable | Buffer | null, budget: BodyBudget): void {
  if (Buffer.isBuffer(body)) budget.give(body.length)
}
