import type {
  IncomingHttpHeaders,
  IncomingMessage,
  OutgoingHttpHeaders,
  ServerResponse,
} from 'node:http'
import { Readable, Transform } from 'node:stream'
import type { ReadableStream as NodeReadableStream } from 'node:stream/web'
import { BffError } from '../errors/bff-error.js'
import {
  Cancellation,
  type ExchangeOptions,
  exchange,
  exchangeInto,
  retriedOnSocketFailure,
  type UpstreamAnswer,
} from './exchange.js'
import {
  downstreamHeaderRecord,
  downstreamResponseHeaders,
  type UpstreamHeaders,
  upstreamRequestHeaders,
} from './headers.js'
import type { UpstreamTarget } from './upstreams.js'

export interface ForwardOptions extends ExchangeOptions {
  csrfHeaderName: string
}

/** nginx's convention for a client that went away before the answer: never sent, only counted. */
export const CLIENT_CLOSED = 499

const NO_BODY_STATUS = new Set([204, 205, 304])

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
  // The browser left while the route was still deciding (a session read, a refresh): its
  // 'close' has fired already, so nothing would stop an exchange started now.
  if (outgoing.destroyed) return CLIENT_CLOSED
  const method = incoming.method ?? 'GET'
  const headers = bearerHeaders(incoming.headers, accessToken, options, requestId)
  const signal = new Cancellation()
  const onClose = () => {
    if (!outgoing.writableFinished) signal.cancel('client')
  }
  outgoing.once('close', onClose)
  const writeHead = (status: number, answerHeaders: IncomingHttpHeaders) =>
    outgoing.writeHead(status, browserHeaders(answerHeaders, responseHeaders, requestId))
  let body: Readable | null = null
  try {
    if (BODILESS.has(method)) {
      const request = { target, method, headers, body, signal }
      return await retriedOnSocketFailure(signal, () =>
        exchangeInto(request, options, outgoing, writeHead),
      )
    }
    body = maxBodyBytes === undefined ? incoming : incoming.pipe(countBytes(maxBodyBytes))
    return await exchangeInto(
      { target, method, headers, body, signal },
      options,
      outgoing,
      writeHead,
    )
  } catch (error) {
    outgoing.off('close', onClose)
    if (signal.why === 'client') return CLIENT_CLOSED
    throw bodyError(body) ?? error
  }
}

/** The upstream's answer headers as the browser gets them, with the broker's own added. */
function browserHeaders(
  answer: IncomingHttpHeaders,
  responseHeaders: (contentType: string | undefined) => Record<string, string>,
  requestId: string | undefined,
): OutgoingHttpHeaders {
  const sent: Record<string, string | string[] | number | undefined> =
    downstreamHeaderRecord(answer)
  const theirCsp = sent['content-security-policy']
  Object.assign(sent, responseHeaders(headerValue(answer['content-type'])))
  const ourCsp = sent['content-security-policy']
  // Two policies both apply (CSP3 §8.1): the upstream's cannot loosen ours, and is kept.
  if (theirCsp !== undefined && ourCsp !== theirCsp) {
    sent['content-security-policy'] = [theirCsp, ourCsp].flat().map(String)
  }
  if (requestId) sent['x-request-id'] = requestId
  return sent
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
      const request = { target, method, headers, body: null, signal }
      answer = await retriedOnSocketFailure(signal, () => exchange(request, options))
    } else {
      body = request.body ? Readable.fromWeb(request.body as NodeReadableStream) : null
      answer = await exchange({ target, method, headers, body, signal }, options)
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
