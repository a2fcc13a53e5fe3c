import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/config/config-error.js'
import { loadServerSettings } from '../../src/config/server-settings.js'

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
    expect(loadServerSettings(env).tracing).toEqual({ url, serviceName: 'session-broker' })
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
  ])('refuses %s=%s in one line naming the variable', (name, value, expected) => {
    const issues = issuesOf({ [name]: value })
    expect(issues).toHaveLength(1)
    expect(issues[0]?.startsWith(`${name}: ${expected}`), issues[0]).toBe(true)
  })

  it('accepts the protocol it sends', () => {
    expect(issuesOf({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })).toEqual([])
  })
})
