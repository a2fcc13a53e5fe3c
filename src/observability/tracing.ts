import {
  type Attributes,
  type Context,
  context,
  defaultTextMapGetter,
  ProxyTracerProvider,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type Tracer,
  trace,
} from '@opentelemetry/api'

/**
 * The broker's spans, through the OpenTelemetry API only: an application (or src/server.ts)
 * registers the SDK. What a span may carry is decided here and by its callers: names and
 * attributes are methods, paths without the query, route templates, hosts, status codes and
 * the broker's error codes, never a token, cookie, code, state, key or error message.
 */
export const TRACER_NAME = 'session-broker'

/** What the API hands out while no SDK has registered a tracer provider. */
const NO_PROVIDER = new ProxyTracerProvider().getDelegate()

/**
 * Whether an SDK has registered a tracer provider. Without one every span is a no-op, so the
 * broker skips its span work altogether. Asked per request (a library user may register the
 * SDK after createBff): one lookup of the API's global.
 */
export function tracingOn(): boolean {
  const provider = trace.getTracerProvider() as Partial<ProxyTracerProvider>
  return provider.getDelegate?.() !== NO_PROVIDER
}

function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME)
}

/** OTel HTTP semconv: a method outside the standard set is reported as `_OTHER`. */
const KNOWN_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
])

/** The SERVER span of one request, and the context its child spans start in. */
export interface RequestSpan {
  span: Span
  context: Context
  method: string
}

export interface RequestStart<Carrier> {
  method: string
  /** The path without the query: the callback's query holds the authorization code and state. */
  path: string
  /** The request's headers: a valid W3C `traceparent` among them continues that trace. */
  headers: Carrier
  getter?: TextMapGetter<Carrier>
}

export function startRequestSpan<Carrier>(request: RequestStart<Carrier>): RequestSpan {
  const getter = request.getter ?? (defaultTextMapGetter as TextMapGetter<Carrier>)
  // The browser's trace id and parent span continue; its tracestate (vendor data the upstream
  // would trust as the broker's) does not.
  const parent = propagation.extract(ROOT_CONTEXT, request.headers, {
    keys: (carrier) => getter.keys(carrier).filter((key) => key !== 'tracestate'),
    get: (carrier, key) => (key === 'tracestate' ? undefined : getter.get(carrier, key)),
  })
  const method = KNOWN_METHODS.has(request.method) ? request.method : '_OTHER'
  const span = tracer().startSpan(
    method === '_OTHER' ? 'HTTP' : method,
    {
      kind: SpanKind.SERVER,
      attributes: { 'http.request.method': method, 'url.path': request.path },
    },
    parent,
  )
  return { span, context: trace.setSpan(parent, span), method }
}

export interface RequestOutcome {
  /** The route template (`/auth/callback`, `/api/orders/*`); unknown for an unmatched path. */
  route: string | undefined
  status: number
  /** The broker's error code when it answered with an error. */
  error: string | undefined
  requestId: string | undefined
}

/** Names the span after its route (OTel: `{method} {http.route}`) and ends it. */
export function endRequestSpan(
  { span, method }: RequestSpan,
  { route, status, error, requestId }: RequestOutcome,
): void {
  if (route !== undefined) {
    span.updateName(`${method === '_OTHER' ? 'HTTP' : method} ${route}`)
    span.setAttribute('http.route', route)
  }
  span.setAttribute('http.response.status_code', status)
  if (requestId !== undefined) span.setAttribute('bff.request_id', requestId)
  if (error !== undefined) span.setAttribute('bff.error', error)
  // OTel HTTP semconv: a server span is an error for 5xx only (a 4xx is the client's).
  if (status >= 500)
    span.setStatus({ code: SpanStatusCode.ERROR, message: error ?? 'server error' })
  span.end()
}

/** A CLIENT span (store, upstream) in the active context, or undefined when tracing is off. */
export function startClientSpan(name: string, attributes: Attributes): Span | undefined {
  if (!tracingOn()) return undefined
  return tracer().startSpan(name, { kind: SpanKind.CLIENT, attributes })
}

/**
 * Ends a CLIENT span: with `error`, status ERROR, and the broker's error code as the message
 * and `bff.error`. Never an exception or its message: those can quote a provider's answer.
 */
export function endClientSpan(span: Span, error?: string): void {
  if (error !== undefined) {
    span.setAttribute('bff.error', error)
    span.setStatus({ code: SpanStatusCode.ERROR, message: error })
  }
  span.end()
}

/**
 * Runs `operation` in an active CLIENT span (what it calls in turn, a JWKS fetch, nests under
 * it), or just runs it when tracing is off. The span says `bff.outcome` (`ok` or `error`);
 * `failure` names a failure with the broker's error code and any other safe attributes.
 */
export function inClientSpan<T>(
  name: string,
  attributes: Attributes,
  operation: () => Promise<T>,
  failure: (error: unknown) => { code: string; attributes?: Attributes },
): Promise<T> {
  if (!tracingOn()) return operation()
  return tracer().startActiveSpan(name, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    try {
      const result = await operation()
      span.setAttribute('bff.outcome', 'ok')
      endClientSpan(span)
      return result
    } catch (error) {
      const failed = failure(error)
      span.setAttributes({ ...failed.attributes, 'bff.outcome': 'error' })
      endClientSpan(span, failed.code)
      throw error
    }
  })
}

/** W3C trace context headers, as the upstream gets them: the broker's, never the browser's. */
const TRACE_HEADERS = ['traceparent', 'tracestate'] as const

/**
 * Replaces the browser's trace context in outgoing headers with the CLIENT span's own, so the
 * upstream's spans are children of the broker's call to it.
 */
export function propagateTo(headers: Record<string, string | string[]>, span: Span): void {
  for (const name of TRACE_HEADERS) delete headers[name]
  propagation.inject(trace.setSpan(context.active(), span), headers)
}
