import { type Context, ROOT_CONTEXT, TraceFlags, trace } from '@opentelemetry/api'
import { SamplingDecision } from '@opentelemetry/sdk-trace-base'
import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/config/config-error.js'
import { loadServerSettings } from '../../src/config/server-settings.js'
import { BrokerSampler } from '../../src/observability/tracing-sdk.js'

function issuesOf(env: Record<string, string>): readonly string[] {
  try {
    loadServerSettings(env)
  } catch (error) {
    if (error instanceof ConfigError) return error.issues
    throw error
  }
  return []
}

describe('tracing settings of the standalone server (standard OTEL_* variables)', () => {
  it('is off without an endpoint or OTEL_TRACES_EXPORTER', () => {
    expect(loadServerSettings({}).tracing).toBeUndefined()
    expect(loadServerSettings({ OTEL_SERVICE_NAME: 'x' }).tracing).toBeUndefined()
  })

  it.each([
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, 'http://collector:4318/v1/traces'],
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c.example/otlp/' },
      'https://c.example/otlp/v1/traces',
    ],
    [
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/in',
      },
      'https://traces.example/in',
    ],
    [{ OTEL_TRACES_EXPORTER: 'otlp' }, 'http://localhost:4318/v1/traces'],
  ])('exports to the OTLP traces URL %j names', (env, url) => {
    expect(loadServerSettings(env).tracing).toEqual({
      url,
      serviceName: 'session-broker',
      sampleRatio: 1,
    })
  })

  it('takes service.name from OTEL_SERVICE_NAME', () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SERVICE_NAME: 'bff-eu' }
    expect(loadServerSettings(env).tracing?.serviceName).toBe('bff-eu')
  })

  it('stays off with OTEL_TRACES_EXPORTER=none, whatever endpoint is set', () => {
    const env = { OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }
    expect(loadServerSettings(env).tracing).toBeUndefined()
  })

  it.each([
    ['OTEL_TRACES_EXPORTER', 'jaeger', 'expected otlp or none'],
    ['OTEL_TRACES_EXPORTER', 'otlp,console', 'expected otlp or none'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'collector:4318', 'expected an absolute http(s) URL'],
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'grpc://c:4317', 'expected an absolute http(s) URL'],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc', 'expected http/json'],
    ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'http/protobuf', 'expected http/json'],
    ['OTEL_TRACES_SAMPLER', 'jaeger_remote', 'expected one of always_on'],
    ['OTEL_TRACES_SAMPLER_ARG', '1.5', 'expected a sampling ratio from 0 to 1'],
  ])('refuses %s=%s in one line naming the variable', (name, value, expected) => {
    const issues = issuesOf({ [name]: value })
    expect(issues).toHaveLength(1)
    expect(issues[0]?.startsWith(`${name}: ${expected}`), issues[0]).toBe(true)
  })

  it.each([
    [{}, 1],
    [{ OTEL_TRACES_SAMPLER: 'always_off' }, 0],
    [{ OTEL_TRACES_SAMPLER: 'parentbased_always_off' }, 0],
    [{ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' }, 0.25],
    [{ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio' }, 1],
  ])('samples the share of requests %j names: %d', (env, ratio) => {
    const settings = loadServerSettings({ OTEL_TRACES_EXPORTER: 'otlp', ...env })
    expect(settings.tracing?.sampleRatio).toBe(ratio)
  })

  it('accepts the protocol it sends', () => {
    expect(issuesOf({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })).toEqual([])
  })
})

describe('BrokerSampler: the broker decides what is recorded, not the browser', () => {
  const remote = (flags: TraceFlags) =>
    trace.setSpanContext(ROOT_CONTEXT, {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: flags,
      isRemote: true,
    })
  const local = (flags: TraceFlags) =>
    trace.setSpanContext(ROOT_CONTEXT, {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: flags,
    })
  const decide = (ratio: number, context: Context) =>
    new BrokerSampler(ratio).shouldSample(context).decision

  it('a browser’s sampled flag forces nothing: at ratio 0 nothing is recorded', () => {
    expect(decide(0, remote(TraceFlags.SAMPLED))).toBe(SamplingDecision.NOT_RECORD)
  })

  it('a browser’s unsampled flag hides nothing: at ratio 1 everything is recorded', () => {
    expect(decide(1, remote(TraceFlags.NONE))).toBe(SamplingDecision.RECORD_AND_SAMPLED)
    expect(decide(1, ROOT_CONTEXT)).toBe(SamplingDecision.RECORD_AND_SAMPLED)
  })

  it('a span under one of the broker’s own follows it', () => {
    expect(decide(0, local(TraceFlags.SAMPLED))).toBe(SamplingDecision.RECORD_AND_SAMPLED)
    expect(decide(1, local(TraceFlags.NONE))).toBe(SamplingDecision.NOT_RECORD)
  })
})
