import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Socket } from 'node:net'
import { BffError } from '../errors/bff-error.js'
import { type Cancellation, msUntil } from './exchange.js'
import type { UpstreamHeaders } from './headers.js'
import { NonceAsked, type RetryIf } from './upstream-authorization.js'
import type { UpstreamTarget } from './upstreams.js'

export interface UpgradeRequest {
  target: UpstreamTarget
  /** Allow-listed request headers, the WebSocket handshake's and the broker's own. */
  headers: UpstreamHeaders
  /**
   * No 101 by then (elapsedMs, connecting included) → 504; a handshake sent again (a DPoP
   * nonce) has what is left of its first attempt's time.
   */
  deadline: number
  /** The browser went away: the handshake is abandoned. */
  signal: Cancellation
  /** Sees every answer head; a refusal it returns true for is NonceAsked: send again. */
  retryIf?: RetryIf | undefined
}

export interface Upgraded {
  socket: Socket
  /** The upstream's 101 headers. */
  headers: IncomingHttpHeaders
  /** Bytes the upstream sent right after its 101 (the first frames, if any). */
  head: Buffer
}

/**
 * The upstream half of a WebSocket handshake (RFC 6455 §4.1), on a connection of its own (an
 * upgraded connection never returns to a pool), TLS verified as for every upstream. Resolves
 * with the socket once the upstream answered 101 with `Upgrade: websocket`; any other answer
 * is 502 (or NonceAsked, when `retryIf` says so), no answer in time 504. Redirects are never
 * followed.
 */
export function upgradeUpstream(request: UpgradeRequest): Promise<Upgraded> {
  const { target, signal } = request
  const timedOut = () =>
    new BffError('upstream_timeout', { detail: `no handshake from ${target.host}` })
  const left = msUntil(request.deadline)
  if (left === 0) return Promise.reject(timedOut())
  return new Promise((resolve, reject) => {
    const send = target.secure ? httpsRequest : httpRequest
    const outgoing = send({
      host: target.hostname,
      port: target.port,
      path: target.path,
      method: 'GET',
      headers: { ...request.headers, connection: 'Upgrade', upgrade: 'websocket' },
      agent: false,
    })
    let settled = false
    const fail = (error: Error) => {
      if (settled) return
      settled = true
      finish()
      outgoing.destroy()
      reject(error)
    }
    const timer = setTimeout(() => fail(timedOut()), left)
    const onAbort = () =>
      fail(new BffError('upstream_unavailable', { detail: `cancelled: ${signal.why}` }))
    signal.once('abort', onAbort)
    const finish = () => {
      clearTimeout(timer)
      signal.off('abort', onAbort)
    }
    outgoing.on('upgrade', (answer, socket: Socket, head: Buffer) => {
      if (settled) return socket.destroy()
      if (answer.headers.upgrade?.toLowerCase() !== 'websocket') {
        socket.destroy()
        return fail(
          new BffError('upstream_unavailable', {
            detail: `${target.host} upgraded to ${answer.headers.upgrade ?? 'nothing'}`,
          }),
        )
      }
      settled = true
      finish()
      request.retryIf?.(101, answer.headers) // learns a DPoP nonce it carries
      resolve({ socket, headers: answer.headers, head })
    })
    outgoing.on('response', (answer) => {
      answer.resume()
      if (request.retryIf?.(answer.statusCode ?? 0, answer.headers)) return fail(new NonceAsked())
      fail(
        new BffError('upstream_unavailable', {
          detail: `${target.host} answered ${answer.statusCode} to the WebSocket handshake`,
        }),
      )
    })
    outgoing.on('error', (error) =>
      fail(
        new BffError('upstream_unavailable', {
          detail: `${target.host}: ${error.message}`,
          cause: error,
        }),
      ),
    )
    if (signal.aborted) onAbort()
    else outgoing.end()
  })
}
