import { type Context, DiagLogLevel, diag, TraceFlags, trace } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources'
import {
  BatchSpanProcessor,
  type Sampler,
  SamplingDecision,
  type SamplingResult,
} from '@opentelemetry/sdk-trace-base'
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node'
import type { TracingSettings } from '../config/server-settings.js'
import type { Logger } from './logger.js'

export interface Tracing {
  /** Exports what is still batched, then stops; gives up after `timeoutMs`. */
  shutdown(timeoutMs: number): Promise<void>
}

/**
 * The standalone server's OpenTelemetry SDK: spans batched and sent over OTLP/HTTP (JSON) to
 * `settings.url`, W3C trace context in and out, AsyncLocalStorage so child spans find their
 * request, the broker's own sampling decision (BrokerSampler). The exporter reads its other
 * standard variables itself (OTEL_EXPORTER_OTLP_HEADERS, …_TIMEOUT, …_COMPRESSION), and the SDK
 * its batch settings (OTEL_BSP_*). Library users register their own SDK.
 */
export function startTracing(settings: TracingSettings, logger: Logger): Tracing {
  // The SDK reports failed exports through diag: as log lines, not silence.
  diag.setLogger(
    {
      error: (message) => logger.warn({ event: 'tracing.error' }, message),
      warn: (message) => logger.warn({ event: 'tracing.warning' }, message),
      info: () => {},
      debug: () => {},
      verbose: () => {},
    },
    DiagLogLevel.WARN,
  )
  const provider = new NodeTracerProvider({
    resource: defaultResource().merge(
      resourceFromAttributes({ 'service.name': settings.serviceName }),
    ),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.url }))],
    sampler: new BrokerSampler(settings.sampleRatio),
  })
  provider.register({ propagator: new W3CTraceContextPropagator() })
  return {
    async shutdown(timeoutMs) {
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          logger.warn({ event: 'tracing.flush_timeout' }, 'spans not exported before exit')
          resolve()
        }, timeoutMs)
      })
      await Promise.race([provider.shutdown(), late])
      clearTimeout(timer)
    },
  }
}

/**
 * Which requests are recorded is the broker's decision, never the browser's. A request's
 * `traceparent` continues its trace, but its sampled flag neither forces recording (a client
 * filling the export queue every user's spans share) nor turns it off (a client hiding its own
 * requests), and the ratio's draw is random rather than read from a trace id the client chose.
 * A span under one of the broker's own spans follows that span.
 */
export class BrokerSampler implements Sampler {
  readonly #ratio: number

  constructor(ratio: number) {
    this.#ratio = ratio
  }

  shouldSample(context: Context): SamplingResult {
    const parent = trace.getSpanContext(context)
    const sampled =
      parent !== undefined && !parent.isRemote
        ? (parent.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED
        : Math.random() < this.#ratio
    return {
      decision: sampled ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD,
    }
  }

  toString(): string {
    return `BrokerSampler{ratio=${this.#ratio}}`
  }
}
