import http from 'node:http'
import https from 'node:https'
import { Readable } from 'node:stream'
import { BffError } from '../errors/bff-error.js'
import { downstreamResponseHeaders, upstreamRequestHeaders } from './headers.js'

export interface ForwardOptions {
  timeoutMs: number
  csrfHeaderName: string
  agents: { http: http.Agent; https: https.Agent }
}

const NO_BODY_STATUS = new Set([204, 205, 304])

/**
 * Streams the browser's request to the upstream with the session's bearer token and
 * streams the answer back. Redirects are not followed. No answer within the timeout → 504,
 * connection failure → 502.
 */
export function forward(
  request: Request,
  target: URL,
  accessToken: string,
  options: ForwardOptions,
): Promise<Response> {
  const headers = upstreamRequestHeaders(request.headers, options.csrfHeaderName)
  headers.authorization = `Bearer ${accessToken}`
  const secure = target.protocol === 'https:'
  const method = request.method
  return new Promise<Response>((resolve, reject) => {
    const upstream = (secure ? https : http).request(target, {
      method,
      headers,
      agent: secure ? options.agents.https : options.agents.http,
    })
    const timer = setTimeout(() => {
      upstream.destroy(
        new BffError('upstream_timeout', { detail: `no answer from ${target.host}` }),
      )
    }, options.timeoutMs)
    const onAbort = () => upstream.destroy(new Error('client went away'))
    request.signal.addEventListener('abort', onAbort, { once: true })

    upstream.on('response', (res) => {
      clearTimeout(timer)
      request.signal.removeEventListener('abort', onAbort)
      const status = res.statusCode ?? 502
      const body =
        method === 'HEAD' || NO_BODY_STATUS.has(status)
          ? null
          : (Readable.toWeb(res) as ReadableStream)
      if (body === null) res.resume()
      resolve(new Response(body, { status, headers: downstreamResponseHeaders(res.headers) }))
    })
    upstream.on('error', (error) => {
      clearTimeout(timer)
      request.signal.removeEventListener('abort', onAbort)
      reject(
        error instanceof BffError
          ? error
          : new BffError('upstream_unavailable', {
              detail: `${target.host}: ${error.message}`,
              cause: error,
            }),
      )
    })

    if (request.body && method !== 'GET' && method !== 'HEAD') {
      Readable.fromWeb(request.body as import('node:stream/web').ReadableStream)
        .on('error', (e) => upstream.destroy(e))
        .pipe(upstream)
    } else {
      upstream.end()
    }
  })
}
