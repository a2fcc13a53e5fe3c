import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { randomId } from '../../src/lib/random.js'
import { type EchoUpstream, startEchoUpstream } from '../support/echo-upstream.js'
import { freePort } from '../support/free-port.js'
import { HttpBrowser } from '../support/http-browser.js'
import { type ScriptedProvider, startScriptedProvider } from '../support/scripted-provider.js'
import { startServerProcess as startServer } from '../support/server-process.js'
import { until } from '../support/until.js'

const waitFor = (check: () => boolean, what: string) => until(check, what, 15_000)

/** What an OTLP/HTTP JSON export of spans holds (the part the test reads). */
interface OtlpTraces {
  resourceSpans: Array<{
    resource: { attributes: Array<{ key: string; value: unknown }> }
    scopeSpans: Array<{ spans: Array<{ name: string; traceId: string }> }>
  }>
}

/** OTLP/JSON ids are hex; some exporters send base64. */
const hex = (id: string) =>
  /^[0-9a-f]+$/.test(id) ? id : Buffer.from(id, 'base64').toString('hex')

describe('the standalone server process', () => {
  let provider: ScriptedProvider
  let upstream: EchoUpstream

  beforeAll(async () => {
    provider = await startScriptedProvider({ clientId: 'proc-client' })
    upstream = await startEchoUpstream()
  })
  afterAll(async () => {
    await upstream?.stop()
    await provider?.stop()
  })

  it('stops with one line per wrong setting, naming the variable', async () => {
    const server = startServer({ OIDC_ISSUER: 'not-a-url', COOKIE_SECRETS: '1:short' })
    const [code] = await server.exit
    expect(code).toBe(1)
    const lines = server.output().trim().split('\n')
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^config error: OIDC_ISSUER: expected/),
        expect.stringMatching(/^config error: PUBLIC_URL: expected/),
        expect.stringMatching(/^config error: COOKIE_SECRETS: expected/),
      ]),
    )
    expect(server.output()).not.toContain('    at ')
  })

  it('finishes in-flight requests on SIGTERM, then exits 0 and closes Redis', async () => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const metricsPort = await freePort()
    const server = startServer({
      PORT: String(port),
      PUBLIC_URL: url,
      OIDC_ISSUER: provider.issuer,
      DANGEROUSLY_ALLOW_HTTP_ISSUER: 'true',
      OIDC_CLIENT_ID: 'proc-client',
      OIDC_CLIENT_SECRET: 'proc-secret',
      COOKIE_SECRETS: `1:test-only-${randomId(24)}`,
      REDIS_URL: inject('redisUrl'),
      TOKEN_ENCRYPTION_KEYS: `1:${randomBytes(32).toString('base64')}`,
      REDIS_KEY_PREFIX: `proc-${randomId(4)}:`,
      API_ROUTES: `/api/echo=${upstream.url}`,
      LOG_LEVEL: 'info',
      METRICS_PORT: String(metricsPort),
    })
    try {
      await waitFor(() => server.output().includes('startup.ready'), 'startup')
      const browser = new HttpBrowser()
      const signIn = await browser.follow(`${url}/auth/login`, { initiator: url })
      expect(signIn.status).toBe(200)
      const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
      expect(metrics.status).toBe(200)
      expect(await metrics.text()).toContain('bff_logins_completed_total 1')
      // The public port does not serve metrics without METRICS_TOKEN.
      expect((await fetch(`${url}/metrics`)).status).toBe(404)

      upstream.handler = (_req, res) => {
        setTimeout(
          () => res.writeHead(200, { 'content-type': 'text/plain' }).end('slow but done'),
          700,
        )
        return true
      }
      const inFlight = browser.request(`${url}/api/echo/slow`, {
        kind: 'fetch',
        initiator: url,
        headers: { 'x-csrf': '1' },
      })
      await waitFor(() => upstream.requests.length > 0, 'the request to reach the upstream')
      server.child.kill('SIGTERM')
      const response = await inFlight
      expect(response.status).toBe(200)
      expect(await response.text()).toBe('slow but done')
      const [code] = await server.exit
      expect(code).toBe(0)
      expect(server.output()).toContain('shutdown.completed')
      await expect(fetch(`${url}/healthz`)).rejects.toThrow()
    } finally {
      server.child.kill('SIGKILL')
    }
  })

  function baseEnv(port: number, issuer: string) {
    return {
      PORT: String(port),
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      OIDC_ISSUER: issuer,
      DANGEROUSLY_ALLOW_HTTP_ISSUER: 'true',
      OIDC_CLIENT_ID: 'proc-client',
      OIDC_CLIENT_SECRET: 'proc-secret',
      COOKIE_SECRETS: `1:test-only-${randomId(24)}`,
      LOG_LEVEL: 'info',
    }
  }

  /** Starts the server with the provider scripted so, and expects it to stop with exactly `line`. */
  async function refusesToStart(script: ScriptedProvider['script'], line: string) {
    provider.script = script
    try {
      const server = startServer(baseEnv(await freePort(), provider.issuer))
      const [code] = await server.exit
      expect(code).toBe(1)
      const errors = server
        .output()
        .split('\n')
        .filter((output) => output.startsWith('config error:'))
      expect(errors).toEqual([line])
      expect(server.output()).not.toContain('    at ')
    } finally {
      provider.script = {}
    }
  }

  it('refuses to start, with one line and exit code 1, when discovery names another issuer', async () => {
    await refusesToStart(
      { metadata: (m) => ({ ...m, issuer: 'https://impostor.example' }) },
      `config error: OIDC_ISSUER: discovery names issuer "https://impostor.example", but OIDC_ISSUER is ${provider.issuer}`,
    )
  })

  it('refuses to start, with one line naming OIDC_CLIENT_SECRET, when the provider refuses the client', async () => {
    await refusesToStart(
      {
        tokenRefusal: () => ({
          status: 401,
          body: '{"error":"invalid_client","error_description":"bad client secret"}',
        }),
      },
      'config error: OIDC_CLIENT_SECRET: the provider refused the client proc-client (invalid_client: bad client secret)',
    )
  })

  it('stops with one line and exit code 1 when its port is taken', async () => {
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const { port } = taken.address() as AddressInfo
    try {
      const server = startServer(baseEnv(port, provider.issuer))
      const [code] = await server.exit
      expect(code).toBe(1)
      expect(server.output()).toContain(`cannot listen on 127.0.0.1:${port}: EADDRINUSE`)
      expect(server.output()).not.toContain('    at ')
    } finally {
      taken.close()
    }
  })

  it('stops with one line naming MAX_CONNECTIONS when it does not fit the open-file limit', async () => {
    const server = startServer(
      { ...baseEnv(await freePort(), provider.issuer), MAX_CONNECTIONS: '1000' },
      { openFileLimit: 1024 },
    )
    const [code] = await server.exit
    expect(code).toBe(1)
    expect(server.output().trim().split('\n')).toEqual([
      "config error: MAX_CONNECTIONS: 1000 does not fit the process's open-file limit of 1024 (ulimit -n): expected at most 512, half of it (the other half is for upstream, Redis and provider sockets); lower it or raise the limit",
    ])
  })

  it('exports its spans over OTLP/HTTP with OTEL_EXPORTER_OTLP_ENDPOINT, the last ones at SIGTERM', async () => {
    const received: Array<{ path: string; body: OtlpTraces }> = []
    const collector = createServer((req, res) => {
      let body = ''
      req.on('data', (chunk: Buffer) => {
        body += chunk
      })
      req.on('end', () => {
        received.push({ path: req.url ?? '', body: JSON.parse(body) as OtlpTraces })
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      })
    })
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve))
    const port = await freePort()
    const server = startServer({
      ...baseEnv(port, provider.issuer),
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
      OTEL_SERVICE_NAME: 'broker-under-test',
    })
    try {
      await waitFor(() => server.output().includes('startup.ready'), 'startup')
      expect(server.output()).toContain('startup.tracing')
      const trace = '0af7651916cd43dd8448eb211c80319c'
      const health = await fetch(`http://127.0.0.1:${port}/healthz`, {
        headers: { traceparent: `00-${trace}-b7ad6b7169203331-01` },
      })
      expect(health.status).toBe(200)
      server.child.kill('SIGTERM')
      expect((await server.exit)[0]).toBe(0)
      expect(received.map((r) => r.path)).toEqual(received.map(() => '/v1/traces'))
      const spans = received
        .flatMap((r) => r.body.resourceSpans)
        .flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((span) => ({ span, r }))))
      const request = spans.find(({ span }) => span.name === 'GET /healthz')
      expect(hex(request?.span.traceId ?? '')).toBe(trace)
      expect(request?.r.resource.attributes).toContainEqual({
        key: 'service.name',
        value: { stringValue: 'broker-under-test' },
      })
      expect(spans.map(({ span }) => span.name)).toContain('oidc.discovery')
    } finally {
      server.child.kill('SIGKILL')
      collector.close()
    }
  })

  it('keeps running when the provider cannot be reached at start, and says so', async () => {
    const port = await freePort()
    const server = startServer(baseEnv(port, 'http://127.0.0.1:1'))
    try {
      await waitFor(() => server.output().includes('startup.not_ready'), 'the not-ready line')
      const health = await fetch(`http://127.0.0.1:${port}/healthz`)
      expect(health.status).toBe(200)
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(503)
      expect(server.child.exitCode).toBeNull()
    } finally {
      server.child.kill('SIGKILL')
    }
  })
})
