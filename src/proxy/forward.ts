import type {
  IncomingHttpHeaders,
  IncomingMessage,
  OutgoingHttpHeaders,
  ServerResponse,
} from 'node:http'
import { Readable } from 'node:stream'
import { type Context, context, type Span } from '@opentelemetry/api'
import { BffError, toBffError } from '../errors/bff-error.js'
import { endClientSpan } from '../observability/tracing.js'
import type { DpopKey } from '../oidc/dpop.js'
import type { CircuitBreaker } from '../resilience/circuit-breaker.js'
import { CircuitOpenError } from '../resilience/circuit-open-error.js'
import type { LiveExchanges } from '../session/live-exchanges.js'
import type { ActiveSession } from '../session/types.js'
import type { BodyBudget } from './body-budget.js'
import {
  Cancellation,
  type ExchangeOptions,
  exchange,
  exchangeInto,
  retriedOnSocketFailure,
  type UpstreamAnswer,
  upstreamDeadline,
  type WriteHead,
} from './exchange.js'
import {
  downstreamHeaderRecord,
  downstreamResponseHeaders,
  type UpstreamHeaders,
  upstreamRequestHeaders,
} from './headers.js'
import {
  BodyAbandoned,
  nodeBodySource,
  releaseBody,
  upstreamBody,
  webBodySource,
} from './request-body.js'
import { authorize, type RetryIf, sentWithNonce } from './upstream-authorization.js'
import { endAnswered, upstreamSpan } from './upstream-span.js'
import type { UpstreamMatch } from './upstreams.js'

export interface ForwardOptions extends ExchangeOptions {
  /** Largest request body; a declared Content-Length over it was refused before (413). */
  maxBodyBytes: number
  /** A request body must have arrived this long after reading began (408). */
  bodyTimeoutMs: number
  /** Request bodies held in memory by this process together (503 server_busy past it). */
  bodyBudget: BodyBudget
  /** Where a streamed answer of a session is held, to be ended when the session ends. */
  live?: LiveExchanges
  /** The circuit of a route's upstream (by prefix), if it has one. */
  circuit?: (prefix: string) => CircuitBreaker | undefined
}

/** One browser request on its way to the upstream its route names. */
export interface ProxiedRequest {
  match: UpstreamMatch
  /** The bearer the upstream gets; none on a route whose token is `none` or for no session. */
  accessToken: string | undefined
  /** The key that token is bound to (RFC 9449): the upstream gets a proof with it. */
  dpop?: DpopKey | undefined
  requestId: string | undefined
  /** Whose request it is (none without a session): a streamed answer is held for it. */
  session?: ActiveSession | undefined
  /** `LiveExchanges.changes` read before the request was admitted. */
  changesBefore?: number
  /** While tracing is on (set by forwardNode and forward): the exchange's CLIENT span. */
  traced?: TracedExchange
}

/** An upstream exchange's CLIENT span, and the request's context it started in. */
interface TracedExchange {
  span: Span
  context: Context
}

/** nginx's convention for a client that went away before the answer: never sent, only counted. */
export const CLIENT_CLOSED = 499

const NO_BODY_STATUS = new Set([204, 205, 304])

/**
 * What the upstream gets: the allow-listed headers of the browser's request (the route's, or
 * `allowed`), then the broker's own (credentials, request id, trace context).
 */
export function upstreamHeaders(
  incoming: Headers | IncomingHttpHeaders,
  method: string,
  { match, accessToken, dpop, requestId, traced }: ProxiedRequest,
  allowed: readonly string[] = match.route.forwardHeaders,
): UpstreamHeaders {
  const headers = upstreamRequestHeaders(incoming, allowed, traced?.span)
  if (accessToken !== undefined) authorize(headers, method, match.target, accessToken, dpop)
  if (requestId) headers['x-request-id'] = requestId
  return headers
}

/**
 * For a request sent again with a DPoP-bound token: a new proof in its headers (an upstream
 * refuses a proof it has seen, RFC 9449 §11.1). Undefined for a bearer, which is sent as it is.
 */
function reauthorizer(
  { match, accessToken, dpop }: ProxiedRequest,
  method: string,
  headers: UpstreamHeaders,
): (() => void) | undefined {
  if (!dpop || accessToken === undefined) return undefined
  return () => authorize(headers, method, match.target, accessToken, dpop)
}

/** Sends a request; a DPoP-bound one through sentWithNonce, which makes a new proof to retry. */
export function sendAuthorized<T>(
  request: ProxiedRequest,
  method: string,
  headers: UpstreamHeaders,
  body: Readable | Buffer | null,
  send: (retryIf: RetryIf | undefined) => Promise<T>,
): Promise<T> {
  const { dpop, match } = request
  if (!dpop) return send(undefined)
  const reauthorize = reauthorizer(request, method, headers) ?? (() => {})
  return sentWithNonce(dpop, match.target, !(body instanceof Readable), reauthorize, send)
}

const BODILESS = new Set(['GET', 'HEAD'])

/** The body error that ended an exchange, if the request body failed (too large, say). */
function bodyError(body: Readable | null): BffError | undefined {
  const error = body?.errored
  return error instanceof BffError ? error : undefined
}

/** One proxied request under node: the browser's request and answer, what to send, and how. */
export interface NodeExchange {
  incoming: IncomingMessage
  outgoing: ServerResponse
  request: ProxiedRequest
  options: NodeForwardOptions
}

/**
 * The fast path under @hono/node-server: node streams end to end, no fetch objects.
 * `options.responseHeaders` adds the broker's own headers (security headers) to the answer.
 * Resolves with the status sent, or CLIENT_CLOSED when the browser went away first.
 */
export function forwardNode(exchange: NodeExchange): Promise<number> {
  // Not an async function (each await layer costs a turn per request), but it fails the same
  // way: with a rejected promise, never a throw into the caller.
  const { request, options } = exchange
  const circuit = options.circuit?.(request.match.route.prefix)
  if (circuit && !circuit.allow()) {
    return Promise.reject(new CircuitOpenError('upstream_circuit_open', circuit))
  }
  const span = upstreamSpan(request.match, exchange.incoming.method ?? 'GET')
  try {
    const traced = span && { span, context: context.active() }
    const sent = startForwardNode(exchange, traced ? { ...request, traced } : request, options)
    const answered = circuit
      ? judged(circuit, sent, (status) => status !== CLIENT_CLOSED, request.session?.key)
      : sent
    return span ? ended(span, answered, (status) => status) : answered
  } catch (error) {
    circuit?.release()
    if (span) endClientSpan(span, toBffError(error).code)
    return Promise.reject(error)
  }
}

/** Ends an exchange's span with the upstream's status, or the broker's error code. */
function ended<T>(span: Span, pending: Promise<T>, statusOf: (value: T) => number): Promise<T> {
  return pending.then(
    (value) => {
      const status = statusOf(value)
      if (status !== CLIENT_CLOSED) {
        endAnswered(span, status)
      } else {
        span.setAttribute('bff.outcome', 'client_closed')
        endClientSpan(span)
      }
      return value
    },
    (error: unknown) => {
      endClientSpan(span, toBffError(error).code)
      throw error
    },
  )
}

/** The failures that count against an upstream's circuit: it could not be reached, or was silent. */
const UPSTREAM_DOWN = new Set(['upstream_unavailable', 'upstream_timeout'])

/**
 * Reports an exchange's outcome to the upstream's circuit: an answer (any status) closes it,
 * a connection failure or timeout counts against it, anything else (the browser left, a bad
 * request body) says nothing about the upstream.
 */
function judged<T>(
  circuit: CircuitBreaker,
  pending: Promise<T>,
  answered: (value: T) => boolean,
  by: string | undefined,
): Promise<T> {
  return pending.then(
    (value) => {
      if (answered(value)) circuit.success()
      else circuit.release()
      return value
    },
    (error: unknown) => {
      if (error instanceof BffError && UPSTREAM_DOWN.has(error.code)) circuit.failure(by)
      else circuit.release()
      throw error
    },
  )
}

export type NodeForwardOptions = ForwardOptions & {
  /** The broker's headers on a proxied answer of this content type (lower-case names). */
  responseHeaders: (contentType: string | undefined) => Record<string, string>
}

function startForwardNode(
  node: { incoming: IncomingMessage; outgoing: ServerResponse },
  request: ProxiedRequest,
  options: NodeForwardOptions,
): Promise<number> {
  const { incoming, outgoing } = node
  // The browser left while the route was still deciding (a session read, a refresh): its
  // 'close' has fired already, so nothing would stop an exchange started now.
  if (outgoing.destroyed) return Promise.resolve(CLIENT_CLOSED)
  const method = incoming.method ?? 'GET'
  const headers = upstreamHeaders(incoming.headers, method, request)
  const { target, route } = request.match
  const headWriter =
    (signal: Cancellation): WriteHead =>
    (status, answerHeaders) => {
      outgoing.writeHead(
        status,
        browserHeaders(answerHeaders, options.responseHeaders, request.requestId),
      )
      // No declared length: a stream (server-sent events, chunked), possibly endless.
      if (options.live && answerHeaders['content-length'] === undefined) {
        // undici calls this from its socket's events, in the async context of whichever
        // request opened the pooled connection: the session re-read belongs to this one.
        if (request.traced) {
          context.with(
            request.traced.context,
            holdStream,
            undefined,
            options.live,
            request,
            outgoing,
            signal,
          )
        } else {
          holdStream(options.live, request, outgoing, signal)
        }
      }
    }
  if (BODILESS.has(method)) {
    const deadline = upstreamDeadline(route.timeoutMs, options)
    const again = reauthorizer(request, method, headers)
    return exchangeWhileConnected(outgoing, (signal) => {
      const writeHead = headWriter(signal)
      return sendAuthorized(request, method, headers, null, (retryIf) => {
        const upstream = { target, method, headers, body: null, signal, deadline, retryIf }
        return retriedOnSocketFailure(
          signal,
          () => exchangeInto(upstream, options, outgoing, writeHead),
          again,
        )
      })
    })
  }
  return forwardNodeBody({ incoming, outgoing }, { headers, route }, options, (body) =>
    exchangeWhileConnected(outgoing, async (signal) => {
      // From the moment the body has been read (its own deadline is the body timeout).
      const deadline = upstreamDeadline(route.timeoutMs, options)
      try {
        return await sendAuthorized(request, method, headers, body, (retryIf) =>
          exchangeInto(
            { target, method, headers, body, signal, deadline, retryIf },
            options,
            outgoing,
            headWriter(signal),
          ),
        )
      } catch (error) {
        throw (body instanceof Readable ? bodyError(body) : undefined) ?? error
      } finally {
        releaseBody(body, options.bodyBudget)
      }
    }),
  )
}

/** Reads (or opens the stream of) a request body, then runs the exchange that sends it. */
async function forwardNodeBody(
  { incoming, outgoing }: { incoming: IncomingMessage; outgoing: ServerResponse },
  { headers, route }: { headers: UpstreamHeaders; route: UpstreamMatch['route'] },
  options: ForwardOptions,
  send: (body: Readable | Buffer | null) => Promise<number>,
): Promise<number> {
  let body: Readable | Buffer | null
  try {
    body = await upstreamBody(nodeBodySource(incoming), headers, route, options)
  } catch (error) {
    if (error instanceof BodyAbandoned) return CLIENT_CLOSED
    throw error
  }
  if (outgoing.destroyed) {
    releaseBody(body, options.bodyBudget)
    return CLIENT_CLOSED
  }
  return send(body)
}

/**
 * A streamed answer stays open as long as the upstream sends (no timeout once it started), so
 * it is held for its session until it closes: when the session ends (or the broker stops), the
 * upstream exchange is cancelled and the browser's answer ended (cleanly: what was sent stays
 * valid). One without a session (token `none`) is held only for the broker's stop.
 */
function holdStream(
  live: LiveExchanges,
  request: ProxiedRequest,
  outgoing: ServerResponse,
  signal: Cancellation,
): void {
  const exchange = {
    end() {
      signal.cancel('ended')
      outgoing.end()
    },
  }
  const { session } = request
  const release = session
    ? live.hold(session, exchange, request.changesBefore ?? Number.NaN)
    : live.holdUnowned(exchange)
  outgoing.once('close', release)
}

/** Runs an exchange that the browser's leaving cancels; CLIENT_CLOSED when it did. */
function exchangeWhileConnected(
  outgoing: ServerResponse,
  run: (signal: Cancellation) => Promise<number>,
): Promise<number> {
  const signal = new Cancellation()
  const onClose = () => {
    if (!outgoing.writableFinished) signal.cancel('client')
  }
  // 'on', not 'once': a response closes once, and once() wraps the listener per request.
  outgoing.on('close', onClose)
  return run(signal).catch((error: unknown) => {
    outgoing.off('close', onClose)
    if (signal.why === 'client') return CLIENT_CLOSED
    throw error
  })
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

/**
 * The portable path (any runtime's fetch Request): the same rules, through web streams.
 * `done` runs once the answer's body has been read to its end, failed or been cancelled
 * (at once when there is none, or when the exchange fails).
 */
export async function forward(
  request: Request,
  proxied: ProxiedRequest,
  options: ForwardOptions,
  done: () => void = () => {},
): Promise<Response> {
  const circuit = options.circuit?.(proxied.match.route.prefix)
  if (circuit && !circuit.allow()) throw new CircuitOpenError('upstream_circuit_open', circuit)
  const span = upstreamSpan(proxied.match, request.method)
  const traced = span && { span, context: context.active() }
  const answer = forwardPortable(request, traced ? { ...proxied, traced } : proxied, options, done)
  const answered = circuit ? judged(circuit, answer, () => true, proxied.session?.key) : answer
  return span ? ended(span, answered, (response) => response.status) : answered
}

async function forwardPortable(
  request: Request,
  proxied: ProxiedRequest,
  options: ForwardOptions,
  done: () => void,
): Promise<Response> {
  const method = request.method
  const headers = upstreamHeaders(request.headers, method, proxied)
  const { target, route } = proxied.match
  let body: Readable | Buffer | null = null
  if (!BODILESS.has(method)) {
    body = await upstreamBody(webBodySource(request), headers, route, options)
  }
  let answer: UpstreamAnswer
  const signal = new Cancellation()
  const onAbort = () => signal.cancel('client')
  request.signal.addEventListener('abort', onAbort, { once: true })
  const deadline = upstreamDeadline(route.timeoutMs, options)
  try {
    answer = await sendAuthorized(proxied, method, headers, body, (retryIf) => {
      const upstream = { target, method, headers, body, signal, deadline, retryIf }
      return BODILESS.has(method)
        ? retriedOnSocketFailure(
            signal,
            () => exchange(upstream, options),
            reauthorizer(proxied, method, headers),
          )
        : exchange(upstream, options)
    })
  } catch (error) {
    throw (body instanceof Readable ? bodyError(body) : undefined) ?? error
  } finally {
    request.signal.removeEventListener('abort', onAbort)
    releaseBody(body, options.bodyBudget)
  }
  const status = answer.statusCode
  let stream: ReadableStream<Uint8Array> | null = null
  if (method === 'HEAD' || NO_BODY_STATUS.has(status)) {
    answer.body.resume()
    done()
  } else {
    stream = webStreamOf(answer.body, done, options.stallTimeoutMs)
  }
  return new Response(stream, { status, headers: downstreamResponseHeaders(answer.headers) })
}

/**
 * The upstream's body as a web stream, paused while the reader is not asking, and ended when
 * the reader has asked for nothing for `stallTimeoutMs`. Not `Readable.toWeb`: on Node 20 a
 * chunk arriving after the reader cancelled is enqueued on the closed stream and throws out
 * of an event handler (an uncaught exception).
 */
function webStreamOf(
  body: Readable,
  done: () => void,
  stallTimeoutMs: number,
): ReadableStream<Uint8Array> {
  let open = true
  let stall: NodeJS.Timeout | undefined
  const end = (then: () => void) => {
    if (!open) return
    open = false
    clearTimeout(stall)
    done()
    then()
  }
  return new ReadableStream<Uint8Array>({
    start(controller) {
      body.on('data', (chunk: Buffer) => {
        if (!open) return
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length))
        if ((controller.desiredSize ?? 0) > 0) return
        body.pause()
        stall = setTimeout(() => {
          end(() => {
            controller.error(new Error('the reader stalled'))
            body.destroy()
          })
        }, stallTimeoutMs)
      })
      body.once('end', () => end(() => controller.close()))
      body.once('error', (error) => end(() => controller.error(error)))
      body.once('close', () => end(() => controller.error(new Error('upstream body closed'))))
    },
    pull() {
      clearTimeout(stall)
      body.resume()
    },
    cancel() {
      end(() => body.destroy())
    },
  })
}
