import { EventEmitter } from 'node:events'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { Readable, Transform } from 'node:stream'
import type { ReadableStream as NodeReadableStream } from 'node:stream/web'
import type { Dispatcher } from 'undici'
import { BffError } from '../errors/bff-error.js'
import {
  downstreamHeaderRecord,
  downstreamResponseHeaders,
  type UpstreamHeaders,
  upstreamRequestHeaders,
} from './headers.js'
import type { UpstreamTarget } from './upstreams.js'

export interface ForwardOptions {
  timeoutMs: number
  csrfHeaderName: string
  /** undici's connection pool for the upstreams (keep-alive, one pool per origin). */
  dispatcher: Dispatcher
}

/** nginx's convention for a client that went away before the answer: never sent, only counted. */
export const CLIENT_CLOSED = 499

const NO_BODY_STATUS = new Set([204, 205, 304])

/**
 * Ends an exchange from outside: the deadline passed, or the browser went away. undici takes
 * an EventEmitter with `aborted` as its signal, which costs far less per request than an
 * AbortController (an EventTarget).
 */
class Cancellation extends EventEmitter {
  aborted = false
  why: 'timeout' | 'client' | undefined

  cancel(why: 'timeout' | 'client'): void {
    if (this.aborted) return
    this.aborted = true
    this.why = why
    this.emit('abort')
  }
}

interface UpstreamAnswer {
  statusCode: number
  headers: IncomingHttpHeaders
  body: Readable
}

/**
 * One upstream exchange. Resolves with the status, headers and streaming body; no response
 * headers within the timeout (connecting included) → 504, a connection failure → 502.
 * Redirects are never followed.
 */
async function exchange(
  target: UpstreamTarget,
  method: string,
  headers: UpstreamHeaders,
  body: Readable | null,
  options: ForwardOptions,
  signal: Cancellation,
): Promise<UpstreamAnswer> {
  const timer = setTimeout(() => signal.cancel('timeout'), options.timeoutMs)
  try {
    const answer = await options.dispatcher.request({
      origin: target.origin,
      path: target.path,
      method: method as Dispatcher.HttpMethod,
      headers,
      body,
      signal,
      headersTimeout: options.timeoutMs,
      // A streamed answer (server-sent events, downloads) may pause for as long as it likes.
      bodyTimeout: 0,
    })
    return answer as unknown as UpstreamAnswer
  } catch (error) {
    if (signal.why === 'timeout' || (error as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT')
      throw new BffError('upstream_timeout', { detail: `no answer from ${target.host}` })
    throw new BffError('upstream_unavailable', {
      detail: `${target.host}: ${(error as Error).message}`,
      cause: error,
    })
  } finally {
    clearTimeout(timer)
  }
}

function bearerHeaders(
  incoming: Headers | IncomingHttpHeaders,
  token: string,
  options: ForwardOptions,
  requestId: string | undefined,
): UpstreamHeaders {
  const headers = upstreamRequestHeaders(incoming, options.csrfHeaderName)
  headers.authorization = `Bearer ${token}`
  if (requestId) headers['x-request-id'] = requestId
  return headers
}

const BODILESS = new Set(['GET', 'HEAD'])
/** The socket died before any answer (a kept-alive connection the upstream had just closed). */
const SOCKET_ERRORS = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE'])

function socketFailure(error: unknown): boolean {
  const cause = (error as BffError).cause as { code?: string; cause?: { code?: string } }
  return SOCKET_ERRORS.has(cause?.code ?? '') || SOCKET_ERRORS.has(cause?.cause?.code ?? '')
}

/**
 * GET and HEAD, sent once more when the connection failed before any answer: the race of a
 * kept-alive connection the upstream closed at the same moment. These methods carry no body
 * to replay and are idempotent (RFC 9110 §9.2.2); a refused connection or a timeout is
 * never retried.
 */
async function bodilessExchange(
  target: UpstreamTarget,
  method: string,
  headers: UpstreamHeaders,
  options: ForwardOptions,
  signal: Cancellation,
): Promise<UpstreamAnswer> {
  try {
    return await exchange(target, method, headers, null, options, signal)
  } catch (error) {
    if (signal.aborted || !socketFailure(error)) throw error
    return exchange(target, method, headers, null, options, signal)
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

/** The body error that ended an exchange, if the request body failed (too large, say). */
function bodyError(body: Readable | null): BffError | undefined {
  const error = body?.errored
  return error instanceof BffError ? error : undefined
}

/**
 * The fast path under @hono/node-server: node streams end to end, no fetch objects.
 * `responseHeaders` adds the broker's own headers (security headers) to the answer.
 * Resolves with the status sent, or CLIENT_CLOSED when the browser went away first.
 */
export async function forwardNode(
  incoming: IncomingMessage,
  outgoing: ServerResponse,
  target: UpstreamTarget,
  accessToken: string,
  options: ForwardOptions,
  responseHeaders: (contentType: string | undefined) => Record<string, string>,
  /** Byte limit of a chunked body (a declared Content-Length was checked before). */
  maxBodyBytes?: number,
  requestId?: string,
): Promise<number> {
  const method = incoming.method ?? 'GET'
  const headers = bearerHeaders(incoming.headers, accessToken, options, requestId)
  const signal = new Cancellation()
  const onClose = () => {
    if (!outgoing.writableFinished) signal.cancel('client')
  }
  outgoing.once('close', onClose)
  let answer: UpstreamAnswer
  let body: Readable | null = null
  try {
    if (BODILESS.has(method)) {
      answer = await bodilessExchange(target, method, headers, options, signal)
    } else {
      body = maxBodyBytes === undefined ? incoming : incoming.pipe(countBytes(maxBodyBytes))
      answer = await exchange(target, method, headers, body, options, signal)
    }
  } catch (error) {
    outgoing.off('close', onClose)
    if (signal.why === 'client') return CLIENT_CLOSED
    throw bodyError(body) ?? error
  }
  const status = answer.statusCode
  const sent: Record<string, string | string[] | number | undefined> = downstreamHeaderRecord(
    answer.headers,
  )
  const theirCsp = sent['content-security-policy']
  Object.assign(sent, responseHeaders(headerValue(answer.headers['content-type'])))
  const ourCsp = sent['content-security-policy']
  // Two policies both apply (CSP3 §8.1): the upstream's cannot loosen ours, and is kept.
  if (theirCsp !== undefined && ourCsp !== theirCsp) {
    sent['content-security-policy'] = [theirCsp, ourCsp].flat().map(String)
  }
  if (requestId) sent['x-request-id'] = requestId
  outgoing.writeHead(status, sent)
  answer.body.on('error', () => outgoing.destroy())
  answer.body.pipe(outgoing)
  return status
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

/** The portable path (any runtime's fetch Request): the same rules, through web streams. */
export async function forward(
  request: Request,
  target: UpstreamTarget,
  accessToken: string,
  options: ForwardOptions,
  requestId?: string,
): Promise<Response> {
  const method = request.method
  const headers = bearerHeaders(request.headers, accessToken, options, requestId)
  let body: Readable | null = null
  let answer: UpstreamAnswer
  const signal = new Cancellation()
  const onAbort = () => signal.cancel('client')
  request.signal.addEventListener('abort', onAbort, { once: true })
  try {
    if (BODILESS.has(method)) {
      answer = await bodilessExchange(target, method, headers, options, signal)
    } else {
      body = request.body ? Readable.fromWeb(request.body as NodeReadableStream) : null
      answer = await exchange(target, method, headers, body, options, signal)
    }
  } catch (error) {
    throw bodyError(body) ?? error
  } finally {
    request.signal.removeEventListener('abort', onAbort)
  }
  const status = answer.statusCode
  const stream =
    method === 'HEAD' || NO_BODY_STATUS.has(status)
      ? null
      : (Readable.toWeb(answer.body) as ReadableStream)
  if (stream === null) answer.body.resume()
  return new Response(stream, { status, headers: downstreamResponseHeaders(answer.headers) })
}
