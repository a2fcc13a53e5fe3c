import type { IncomingHttpHeaders, ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { BffError } from '../errors/bff-error.js'
import { elapsedMs } from '../lib/clock.js'
import type { UpstreamHeaders } from './headers.js'
import { NonceAsked, type RetryIf } from './upstream-authorization.js'
import type { UpstreamTarget } from './upstreams.js'

export interface ExchangeOptions {
  timeoutMs: number
  /**
   * How long a browser may read nothing of an answer (its socket full, the upstream paused)
   * before both are closed: a paused exchange holds a pooled upstream connection.
   */
  stallTimeoutMs: number
  /** undici's connection pool for the upstreams (keep-alive, one pool per origin). */
  dispatcher: Dispatcher
}

/** The deadline passed, the browser left or stopped reading, or the session ended (LiveExchanges). */
export type CancelReason = 'timeout' | 'client' | 'stalled' | 'ended'

type CancelListener = () => void

/**
 * Ends an exchange from outside: the deadline passed, or the browser went away. undici takes
 * anything with `on`/`removeListener` for 'abort' as its signal; this minimal one holds no
 * EventTarget (AbortController) or EventEmitter state per request. It fires once, so `once`
 * is `on`.
 */
export class Cancellation {
  aborted = false
  why: CancelReason | undefined
  #listeners: CancelListener[] | undefined

  on(_event: 'abort', listener: CancelListener): this {
    if (this.aborted) return this
    if (this.#listeners) this.#listeners.push(listener)
    else this.#listeners = [listener]
    return this
  }

  once(event: 'abort', listener: CancelListener): this {
    return this.on(event, listener)
  }

  off(_event: 'abort', listener: CancelListener): this {
    const listeners = this.#listeners
    const at = listeners ? listeners.indexOf(listener) : -1
    if (at !== -1) listeners?.splice(at, 1)
    return this
  }

  removeListener(event: 'abort', listener: CancelListener): this {
    return this.off(event, listener)
  }

  cancel(why: CancelReason): void {
    if (this.aborted) return
    this.aborted = true
    this.why = why
    const listeners = this.#listeners
    this.#listeners = undefined
    if (listeners) for (const listener of listeners) listener()
  }
}

/** One request to an upstream, as the proxy sends it. */
export interface UpstreamRequest {
  target: UpstreamTarget
  method: string
  headers: UpstreamHeaders
  /** Read completely before the exchange (a Buffer) or streamed as it arrives. */
  body: Readable | Buffer | null
  signal: Cancellation
  /**
   * When the answer's head must have arrived (elapsedMs), whichever attempt this is: a
   * request sent again (a DPoP nonce, a dropped kept-alive connection) gets what is left of
   * its first attempt's time, never a new timeout. Default: the options' timeout from now.
   */
  deadline?: number | undefined
  /** An answer head this returns true for is dropped (NonceAsked): the caller sends again. */
  retryIf?: RetryIf | undefined
}

export interface UpstreamAnswer {
  statusCode: number
  headers: IncomingHttpHeaders
  body: Readable
}

/**
 * A refusal dropped to send the request again (a DPoP nonce demand) is read to its end and
 * thrown away, so its kept-alive connection goes back to the pool; one longer or slower than
 * this is cut, connection and all.
 */
const DRAIN_LIMIT_BYTES = 64 * 1024
const DRAIN_TIMEOUT_MS = 1000

/** Reads a dropped refusal's body to its end (see DRAIN_LIMIT_BYTES), or destroys it. */
function drainRefusal(body: Readable): void {
  let read = 0
  const cut = setTimeout(() => body.destroy(), DRAIN_TIMEOUT_MS)
  body.on('error', () => {})
  body.once('close', () => clearTimeout(cut))
  body.on('data', (chunk: Buffer) => {
    read += chunk.length
    if (read > DRAIN_LIMIT_BYTES) body.destroy()
  })
}

/** What a failed exchange answers: 504 when the deadline passed, else 502. */
function upstreamError(error: unknown, target: UpstreamTarget, signal: Cancellation): BffError {
  if (signal.why === 'timeout' || (error as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT')
    return deadlinePassed(target)
  return new BffError('upstream_unavailable', {
    detail: `${target.host}: ${(error as Error).message}`,
    cause: error,
  })
}

/** The deadline a request's answer head must meet, from its first attempt. */
export function upstreamDeadline(timeoutMs: number | undefined, options: ExchangeOptions): number {
  return elapsedMs() + (timeoutMs ?? options.timeoutMs)
}

/** What is left until `deadline` (elapsedMs) in whole ms, or 0 once it has passed. */
export function msUntil(deadline: number): number {
  return Math.max(Math.ceil(deadline - elapsedMs()), 0)
}

function timeLeft(request: UpstreamRequest, options: ExchangeOptions): number {
  return request.deadline === undefined ? options.timeoutMs : msUntil(request.deadline)
}

function requestOptions(
  { target, method, headers, body }: UpstreamRequest,
  headersTimeout: number,
): Dispatcher.DispatchOptions {
  return {
    origin: target.origin,
    path: target.path,
    method: method as Dispatcher.HttpMethod,
    headers,
    body,
    headersTimeout,
    // A streamed answer (server-sent events, downloads) may pause for as long as it likes.
    bodyTimeout: 0,
  }
}

function deadlinePassed(target: UpstreamTarget): BffError {
  return new BffError('upstream_timeout', { detail: `no answer from ${target.host}` })
}

/**
 * One upstream exchange. Resolves with the status, headers and streaming body; no response
 * headers within the timeout (connecting included) → 504, a connection failure → 502.
 * Redirects are never followed.
 */
export async function exchange(
  request: UpstreamRequest,
  options: ExchangeOptions,
): Promise<UpstreamAnswer> {
  const { signal } = request
  const left = timeLeft(request, options)
  if (left === 0) throw deadlinePassed(request.target)
  const timer = setTimeout(() => signal.cancel('timeout'), left)
  // undici applies the signal only once the request has a connection: a request queued
  // behind a full pool would wait past its deadline. So the deadline (or the browser
  // leaving) also ends the wait here, and an answer that comes later is thrown away.
  let onAbort = () => {}
  const abandoned = new Promise<never>((_, reject) => {
    onAbort = () => reject(new Error(`cancelled: ${signal.why}`))
    signal.once('abort', onAbort)
  })
  const pending = options.dispatcher.request({
    ...requestOptions(request, left),
    // undici only calls on/once/removeListener('abort') and reads `aborted` (api/abort-signal.js).
    signal: signal as unknown as NonNullable<Dispatcher.RequestOptions['signal']>,
  })
  let answer: UpstreamAnswer
  try {
    answer = (await Promise.race([pending, abandoned])) as unknown as UpstreamAnswer
  } catch (error) {
    pending.then(
      (late) => late.body.destroy(),
      () => {},
    )
    throw upstreamError(error, request.target, signal)
  } finally {
    clearTimeout(timer)
    signal.off('abort', onAbort)
  }
  if (request.retryIf?.(answer.statusCode, answer.headers)) {
    drainRefusal(answer.body)
    throw new NonceAsked()
  }
  return answer
}

/** Writes the answer's status and headers to the browser (the caller decides which headers). */
export type WriteHead = (statusCode: number, headers: IncomingHttpHeaders) => void

/**
 * The same exchange as `exchange`, with the answer written straight into the browser's
 * response instead of handed back as a stream: undici calls this handler with the head and
 * each body chunk, and the chunk goes to `outgoing.write`. While the browser's socket is full
 * the upstream is paused, and resumed on `drain`. This skips the Readable that `request()`
 * builds and the pipe per request. Resolves with the status once the head is written;
 * rejects (502/504, as `exchange`) only before that. A failure after the head ends the
 * browser's connection, as a broken pipe would.
 */
export function exchangeInto(
  request: UpstreamRequest,
  options: ExchangeOptions,
  outgoing: ServerResponse,
  writeHead: WriteHead,
): Promise<number> {
  const { target, signal } = request
  const left = timeLeft(request, options)
  if (left === 0) return Promise.reject(deadlinePassed(target))
  return new Promise((resolve, reject) => {
    let controller: Dispatcher.DispatchController | undefined
    let started = false
    const cancel = () => {
      if (controller) return controller.abort(new Error(`cancelled: ${signal.why}`))
      // Still queued for a connection (undici starts the deadline only on a socket): give
      // up now; onRequestStart aborts the exchange if undici starts it later.
      finish()
      reject(upstreamError(new Error(`cancelled while queued: ${signal.why}`), target, signal))
    }
    let stall: NodeJS.Timeout | undefined
    let paused = false
    // Bytes of a refusal read and thrown away (see DRAIN_LIMIT_BYTES); undefined: not one.
    let drained: number | undefined
    let drainCut: NodeJS.Timeout | undefined
    const resume = () => {
      paused = false
      clearTimeout(stall)
      controller?.resume()
    }
    const timer = setTimeout(() => signal.cancel('timeout'), left)
    // Until the answer ends: the browser going away mid-body stops the upstream too.
    signal.once('abort', cancel)
    const finish = () => {
      clearTimeout(timer)
      clearTimeout(stall)
      signal.off('abort', cancel)
      if (paused) outgoing.off('drain', resume)
    }
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(current) {
        controller = current
        if (signal.aborted) cancel()
      },
      onResponseStart(current, statusCode, answerHeaders) {
        if (statusCode < 200) return // 1xx: informational, the real answer follows
        // The browser is gone (its 'close' may have fired before this exchange began).
        if (outgoing.destroyed) return signal.cancel('client')
        clearTimeout(timer)
        if (request.retryIf?.(statusCode, answerHeaders)) {
          // Settled first (the caller sends again at once); the refusal's body is then read and
          // thrown away, never written to the browser.
          finish()
          reject(new NonceAsked())
          drained = 0
          drainCut = setTimeout(() => current.abort(new NonceAsked()), DRAIN_TIMEOUT_MS)
          return
        }
        try {
          writeHead(statusCode, answerHeaders)
        } catch (error) {
          // A head Node refuses to write (say, a forbidden character from the upstream).
          finish()
          current.abort(error as Error)
          return reject(error)
        }
        started = true
        resolve(statusCode)
      },
      onResponseData(current, chunk) {
        if (drained !== undefined) {
          drained += chunk.length
          if (drained > DRAIN_LIMIT_BYTES) current.abort(new NonceAsked())
          return
        }
        // Cancelled (the answer may already be ended: a session end): nothing more is written.
        if (signal.aborted) return
        if (outgoing.write(chunk)) return
        // A full socket pauses the upstream until 'drain'; a destroyed one never drains, and
        // one that does not drain in time ends the exchange (see stallTimeoutMs).
        if (outgoing.destroyed) return signal.cancel('client')
        current.pause()
        if (!paused) {
          paused = true
          outgoing.once('drain', resume)
        }
        clearTimeout(stall)
        stall = setTimeout(() => {
          // undici may hold the abort's error back while the exchange is paused: close the
          // browser's connection here rather than wait for onResponseError.
          signal.cancel('stalled')
          outgoing.destroy()
        }, options.stallTimeoutMs)
      },
      onResponseEnd() {
        if (drained !== undefined) return clearTimeout(drainCut)
        finish()
        outgoing.end()
      },
      onResponseError(_controller, error) {
        if (drained !== undefined) return clearTimeout(drainCut)
        finish()
        if (!started) return reject(upstreamError(error, target, signal))
        // A session end has ended the answer cleanly already; anything else cuts it.
        if (signal.why !== 'ended') outgoing.destroy()
      },
    }
    try {
      options.dispatcher.dispatch(requestOptions(request, left), handler)
    } catch (error) {
      finish()
      reject(upstreamError(error, target, signal))
    }
  })
}

/** The socket died before any answer (a kept-alive connection the upstream had just closed). */
const SOCKET_ERRORS = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE'])

/**
 * GET and HEAD, sent once more when the connection failed before any answer: the race of a
 * kept-alive connection the upstream closed at the same moment. These methods carry no body
 * to replay and are idempotent (RFC 9110 §9.2.2); a refused connection or a timeout is
 * never retried. `beforeRetry` renews what may not be sent twice (a DPoP proof).
 */
export function retriedOnSocketFailure<T>(
  signal: Cancellation,
  attempt: () => Promise<T>,
  beforeRetry?: () => void,
): Promise<T> {
  return attempt().catch((error: unknown) => {
    if (signal.aborted || !socketFailure(error)) throw error
    beforeRetry?.()
    return attempt()
  })
}

function socketFailure(error: unknown): boolean {
  const cause = (error as BffError).cause as { code?: string; cause?: { code?: string } }
  return SOCKET_ERRORS.has(cause?.code ?? '') || SOCKET_ERRORS.has(cause?.cause?.code ?? '')
}
