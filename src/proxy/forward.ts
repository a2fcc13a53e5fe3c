import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import https from 'node:https'
import { Readable, Transform } from 'node:stream'
import type { ReadableStream as NodeReadableStream } from 'node:stream/web'
import { BffError } from '../errors/bff-error.js'
import {
  downstreamHeaderRecord,
  downstreamResponseHeaders,
  upstreamRequestHeaders,
} from './headers.js'
import type { UpstreamTarget } from './upstreams.js'

export interface ForwardOptions {
  timeoutMs: number
  csrfHeaderName: string
  agents: { http: http.Agent; https: https.Agent }
}

/** nginx's convention for a client that went away before the answer: never sent, only counted. */
export const CLIENT_CLOSED = 499

const NO_BODY_STATUS = new Set([204, 205, 304])

/**
 * Opens the upstream request. Resolves with its response headers; no answer within the
 * timeout → 504, a connection failure → 502. Redirects are never followed.
 */
function openUpstream(
  target: UpstreamTarget,
  method: string,
  headers: http.OutgoingHttpHeaders,
  options: ForwardOptions,
): { request: http.ClientRequest; response: Promise<IncomingMessage> } {
  const request = (target.secure ? https : http).request({
    protocol: target.secure ? 'https:' : 'http:',
    hostname: target.hostname,
    port: target.port,
    path: target.path,
    method,
    headers,
    agent: target.secure ? options.agents.https : options.agents.http,
  })
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    const timer = setTimeout(() => {
      request.destroy(new BffError('upstream_timeout', { detail: `no answer from ${target.host}` }))
    }, options.timeoutMs)
    request.on('response', (res) => {
      clearTimeout(timer)
      resolve(res)
    })
    request.on('error', (error) => {
      clearTimeout(timer)
      reject(
        error instanceof BffError
          ? error
          : new BffError('upstream_unavailable', {
              detail: `${target.host}: ${error.message}`,
              cause: error,
            }),
      )
    })
  })
  return { request, response }
}

function bearerHeaders(
  incoming: Headers | http.IncomingHttpHeaders,
  token: string,
  options: ForwardOptions,
  requestId: string | undefined,
) {
  const headers = upstreamRequestHeaders(incoming, options.csrfHeaderName)
  headers.authorization = `Bearer ${token}`
  if (requestId) headers['x-request-id'] = requestId
  return headers
}

const BODILESS = new Set(['GET', 'HEAD'])
const STALE_SOCKET_ERRORS = new Set(['ECONNRESET', 'EPIPE'])

/**
 * GET and HEAD, sent once more when the first try went out on a kept-alive socket that the
 * upstream closed at the same moment (the race Node documents for `request.reusedSocket`);
 * nothing reached the upstream application, and these methods carry no body to replay.
 */
async function bodilessExchange(
  target: UpstreamTarget,
  method: string,
  headers: http.OutgoingHttpHeaders,
  options: ForwardOptions,
  onRequest: (request: http.ClientRequest) => void,
): Promise<IncomingMessage> {
  for (let attempt = 0; ; attempt++) {
    const upstream = openUpstream(target, method, headers, options)
    onRequest(upstream.request)
    upstream.request.end()
    try {
      return await upstream.response
    } catch (error) {
      const code = ((error as BffError).cause as NodeJS.ErrnoException | undefined)?.code
      if (attempt === 0 && upstream.request.reusedSocket && code && STALE_SOCKET_ERRORS.has(code))
        continue
      throw error
    }
  }
}

/** Passes bytes through until `max`, then reports payload_too_large (the body is never buffered). */
function countBytes(max: number, onTooLarge: (error: BffError) => void): Transform {
  let seen = 0
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length
      if (seen <= max) return done(null, chunk)
      onTooLarge(new BffError('payload_too_large', { detail: `chunked body over ${max}` }))
      done()
    },
  })
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
  let current: http.ClientRequest | undefined
  let clientGone = false
  const onClose = () => {
    if (outgoing.writableFinished) return
    clientGone = true
    current?.destroy()
  }
  outgoing.once('close', onClose)
  let res: IncomingMessage
  try {
    if (BODILESS.has(method)) {
      res = await bodilessExchange(target, method, headers, options, (request) => {
        current = request
      })
    } else {
      const upstream = openUpstream(target, method, headers, options)
      current = upstream.request
      if (maxBodyBytes === undefined) incoming.pipe(upstream.request)
      else
        incoming
          .pipe(countBytes(maxBodyBytes, (error) => upstream.request.destroy(error)))
          .pipe(upstream.request)
      res = await upstream.response
    }
  } catch (error) {
    outgoing.off('close', onClose)
    if (clientGone) return CLIENT_CLOSED
    throw error
  }
  const status = res.statusCode ?? 502
  const answer: Record<string, http.OutgoingHttpHeader | undefined> = downstreamHeaderRecord(
    res.headers,
  )
  const theirCsp = answer['content-security-policy']
  Object.assign(answer, responseHeaders(res.headers['content-type']))
  const ourCsp = answer['content-security-policy']
  // Two policies both apply (CSP3 §8.1): the upstream's cannot loosen ours, and is kept.
  if (theirCsp !== undefined && ourCsp !== theirCsp) {
    answer['content-security-policy'] = [theirCsp, ourCsp].flat().map(String)
  }
  if (requestId) answer['x-request-id'] = requestId
  outgoing.writeHead(status, answer)
  res.on('error', () => outgoing.destroy())
  res.pipe(outgoing)
  return status
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
  let current: http.ClientRequest | undefined
  const onAbort = () => current?.destroy()
  request.signal.addEventListener('abort', onAbort, { once: true })
  try {
    let res: IncomingMessage
    if (BODILESS.has(method)) {
      res = await bodilessExchange(target, method, headers, options, (r) => {
        current = r
      })
    } else {
      const upstream = openUpstream(target, method, headers, options)
      current = upstream.request
      if (request.body) {
        Readable.fromWeb(request.body as NodeReadableStream)
          .on('error', (e) => upstream.request.destroy(e))
          .pipe(upstream.request)
      } else {
        upstream.request.end()
      }
      res = await upstream.response
    }
    const status = res.statusCode ?? 502
    const body =
      method === 'HEAD' || NO_BODY_STATUS.has(status)
        ? null
        : (Readable.toWeb(res) as ReadableStream)
    if (body === null) res.resume()
    return new Response(body, { status, headers: downstreamResponseHeaders(res.headers) })
  } finally {
    request.signal.removeEventListener('abort', onAbort)
  }
}
