/**
 * (b) The broker's hot path: createBff with a Redis session store and one API route,
 * `/api/bench` → the upstream. The session is established by the orchestrator (a real
 * login through the provider) before the load starts. The broker's modules are loaded from
 * `modules`, the orchestrator's tsc build of src/ (as `npm run build` ships it), so the
 * measurement does not include the tsx loader's per-closure naming helper.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { getRequestListener } from '@hono/node-server'
import { announceReady, fail, onShutdown, settings } from '../lib/child.js'

export interface BrokerTargetSettings {
  port: number
  issuer: string
  clientId: string
  clientSecret: string
  /** A standalone Redis, or the seed nodes of a Redis Cluster. */
  redis: { url: string } | { clusterNodes: string[] }
  keyPrefix: string
  cookieSecret: string
  upstreamUrl: string
  /** Bearer token for the broker's /metrics (the orchestrator reads the lane counter). */
  metricsToken: string
  /** Directory of the compiled src/ (app.js and the rest). */
  modules: string
  /** false: served by Hono alone (`getRequestListener(bff.app.fetch)`), as when mounted in an app. */
  lane: boolean
  /** Token encryption key (base64, 32 bytes); instances sharing sessions share it. Default: random. */
  tokenKey?: string
  /** More broker options (chaos.ts: short timeouts), over the ones below. */
  options?: Record<string, unknown>
  /** Registers an OpenTelemetry SDK first: spans made and batched as in production, then dropped. */
  tracing?: boolean
}

const s = settings<BrokerTargetSettings>()

/** The OTel SDK as the standalone server registers it, with an exporter that drops every span. */
async function registerTracing(): Promise<void> {
  const { ExportResultCode, W3CTraceContextPropagator } = await import('@opentelemetry/core')
  const { BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base')
  const { NodeTracerProvider } = await import('@opentelemetry/sdk-trace-node')
  const dropped = {
    export: (_spans: unknown[], done: (result: { code: number }) => void) =>
      done({ code: ExportResultCode.SUCCESS }),
    shutdown: async () => {},
  }
  new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(dropped)] }).register({
    propagator: new W3CTraceContextPropagator(),
  })
}

async function main() {
  if (s.tracing) await registerTracing()
  const load = <T>(path: string) => import(pathToFileURL(join(s.modules, path)).href) as Promise<T>
  const { createBff } = await load<typeof import('../../src/app.js')>('app.js')
  const { createLogger } =
    await load<typeof import('../../src/observability/logger.js')>('observability/logger.js')
  // From the package's entry point, which has exported it in every version (a baseline too).
  const { RedisSessionStore } = await load<typeof import('../../src/index.js')>('index.js')
  const bff = createBff(
    {
      publicUrl: `http://127.0.0.1:${s.port}`,
      issuer: s.issuer,
      clientId: s.clientId,
      clientSecret: s.clientSecret,
      // The bench provider is a local oidc-provider on plain http, as in the tests.
      dangerouslyAllowHttpIssuer: true,
      cookieSecrets: [{ id: 1, secret: s.cookieSecret }],
      apiRoutes: [{ prefix: '/api/bench', upstream: s.upstreamUrl }],
      // Production settings on the hot path: tokens encrypted at rest, the session cache on
      // (the default), and the per-session rate limit on (counted in batches; set high so the
      // load never trips it).
      tokenEncryptionKeys: [{ id: 1, key: s.tokenKey ?? randomBytes(32).toString('base64') }],
      rateLimitApi: { limit: 100_000_000, windowSeconds: 60 },
      // One session drives all the load's connections (a browser would use six).
      apiMaxInFlightPerSession: 1000,
      metricsToken: s.metricsToken,
      ...s.options,
    },
    {
      // Warnings (a failed proxy call, say) go to stderr; stdout carries the ready line.
      logger: createLogger('warn', process.stderr),
      store: new RedisSessionStore({ target: s.redis, keyPrefix: s.keyPrefix }),
    },
  )
  await bff.ready()
  // As the standalone server serves it: the limited server and the node listener, with the
  // warm /api lane (BENCH_LANE=0: Hono alone).
  const { createLimitedServer } =
    await load<typeof import('../../src/http/limited-server.js')>('http/limited-server.js')
  const server = createLimitedServer(
    s.lane ? bff.nodeListener() : getRequestListener(bff.app.fetch),
    { logger: createLogger('warn', process.stderr), metrics: bff.metrics },
  )
  server.on('error', fail)
  server.listen(s.port, '127.0.0.1', () => announceReady({ port: s.port }))
  onShutdown(async () => {
    await new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
    await bff.close()
  })
}

main().catch(fail)
