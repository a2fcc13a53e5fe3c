import { context, propagation, SpanKind, trace } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tracingOn } from '../../src/observability/tracing.js'
import { laneCount } from '../support/api-lane.js'
import { changeFeedLive, type TestBroker } from '../support/broker.js'
import { apiCallTo, type BrokerCluster, startBrokerCluster } from '../support/broker-cluster.js'

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'

/*
 * Without an OpenTelemetry SDK (a library user who registers none, or the server without
 * OTEL_* settings) the broker does no span work: its lane forwards the browser's trace
 * context as it does any allow-listed header. A provider registered later, with the broker
 * already serving, is used from the next request on.
 */
describe('tracing with no SDK registered', () => {
  let cluster: BrokerCluster
  let broker: TestBroker
  let cookie: string

  beforeAll(async () => {
    cluster = await startBrokerCluster(1)
    broker = cluster.instances[0] as TestBroker
    cookie = await cluster.signIn('alice')
    await changeFeedLive(broker)
    expect((await apiCallTo(broker, cookie, '/api/demo/warm')).status).toBe(200)
  })
  afterAll(async () => {
    await cluster?.stop()
    trace.disable()
    context.disable()
    propagation.disable()
  })

  /** One warm GET through the lane (proven by its counter); what the upstream received. */
  async function throughLane(): Promise<Record<string, string>> {
    const before = await laneCount(broker)
    const response = await fetch(`${broker.url}/api/demo/lane`, {
      headers: { cookie, 'x-csrf': '1', traceparent: TRACEPARENT, tracestate: 'browser=1' },
    })
    expect(response.status).toBe(200)
    expect(await laneCount(broker)).toBe(before + 1)
    return (await response.json()).receivedHeaders
  }

  it('makes no span on the lane: the upstream gets the browser’s traceparent unchanged', async () => {
    expect(tracingOn()).toBe(false)
    expect(await throughLane()).toMatchObject({ traceparent: TRACEPARENT, tracestate: 'browser=1' })
  })

  it('traces from the next request on once an SDK is registered, without a restart', async () => {
    const exporter = new InMemorySpanExporter()
    new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).register({
      propagator: new W3CTraceContextPropagator(),
    })
    expect(tracingOn()).toBe(true)
    const received = await throughLane()
    const upstream = exporter.getFinishedSpans().find((s) => s.name === 'upstream /api/demo')
    expect(upstream?.kind).toBe(SpanKind.CLIENT)
    expect(received.traceparent).toBe(
      `00-0af7651916cd43dd8448eb211c80319c-${upstream?.spanContext().spanId}-01`,
    )
    expect(exporter.getFinishedSpans().map((s) => s.name)).toContain('GET /api/demo/*')
  })
})
