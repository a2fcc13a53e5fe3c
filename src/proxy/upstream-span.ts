import { type Span, SpanStatusCode } from '@opentelemetry/api'
import { endClientSpan, startClientSpan, tracingOn } from '../observability/tracing.js'
import type { UpstreamMatch } from './upstreams.js'

/**
 * The CLIENT span of one request to an upstream (proxied, or a WebSocket handshake), named
 * after its route's prefix; none while tracing is off. Its context is what the upstream gets
 * as `traceparent` (headers.ts).
 */
export function upstreamSpan({ route, target }: UpstreamMatch, method: string): Span | undefined {
  if (!tracingOn()) return undefined
  return startClientSpan(`upstream ${route.prefix}`, {
    'http.request.method': method,
    'server.address': target.hostname,
    'server.port': target.port,
    'bff.route': route.prefix,
  })
}

/** Ends it with the upstream's answer; OTel HTTP semconv: a client's 4xx and 5xx are errors. */
export function endAnswered(span: Span, status: number): void {
  span.setAttribute('http.response.status_code', status)
  if (status >= 400) span.setStatus({ code: SpanStatusCode.ERROR })
  endClientSpan(span)
}
