import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { createBff } from './app.js'
import { ConfigError } from './config/config-error.js'
import { loadConfigFromEnv } from './config/load-env.js'
import { loadServerSettings } from './config/server-settings.js'
import { BffError } from './errors/bff-error.js'
import { createLimitedServer } from './http/limited-server.js'
import { readOpenFileLimit } from './lib/open-file-limit.js'
import { createLogger } from './observability/logger.js'

/** How long a stopping server waits for its last spans to be exported (a collector may be down). */
const TRACE_FLUSH_MS = 5000

/** Standalone entry: configuration from the environment, then serve until SIGTERM. */
async function main() {
  let settings: ReturnType<typeof loadServerSettings>
  let config: ReturnType<typeof loadConfigFromEnv>
  try {
    settings = loadServerSettings(process.env, { openFileLimit: readOpenFileLimit() })
    config = loadConfigFromEnv()
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const issue of error.issues) console.error(`config error: ${issue}`)
      process.exit(1)
    }
    throw error
  }
  const logger = createLogger(settings.logLevel)
  // Registered before the broker serves anything; the SDK is loaded only when configured.
  const tracing = settings.tracing
    ? (await import('./observability/tracing-sdk.js')).startTracing(settings.tracing, logger)
    : undefined
  if (settings.tracing) {
    const { origin, pathname } = new URL(settings.tracing.url)
    logger.info(
      { event: 'startup.tracing', endpoint: `${origin}${pathname}` },
      `exporting traces over OTLP to ${origin}${pathname}`,
    )
  }
  if (config.dangerouslyAllowHttpIssuer) {
    logger.warn(
      { event: 'config.dangerous' },
      'DANGEROUSLY_ALLOW_HTTP_ISSUER is on: provider traffic is not encrypted. Never use this in production.',
    )
  }
  const bff = createBff(config, { logger })
  bff.ready().then(
    () =>
      logger.info(
        { event: 'startup.ready', store: bff.stores.kind },
        'store reachable and provider discovered',
      ),
    (error: unknown) => {
      // A provider that names another issuer, or refuses the client, is a configuration error:
      // refuse to run. One that
      // cannot be reached (or a store that is down) is an outage: keep running, retry on demand.
      if (error instanceof BffError && error.code === 'provider_misconfigured') {
        console.error(`config error: OIDC_ISSUER: ${error.detail}`)
        process.exit(1)
      }
      // The provider refused the broker's own credentials: no sign-in can work.
      if (error instanceof BffError && error.code === 'provider_rejected_client') {
        console.error(`config error: ${error.detail}`)
        process.exit(1)
      }
      logger.warn(
        {
          event: 'startup.not_ready',
          detail: error instanceof BffError ? (error.detail ?? error.code) : String(error),
        },
        'not ready yet; will retry on demand',
      )
    },
  )
  const server = createLimitedServer(bff.nodeListener(), {
    limits: settings.limits,
    trustedProxies: config.trustedProxies,
    logger,
    metrics: bff.metrics,
  })
  server.on('upgrade', bff.upgradeListener())
  const cannotListen = (error: NodeJS.ErrnoException) => {
    console.error(
      `cannot listen on ${settings.host}:${settings.port}: ${error.code ?? error.message}`,
    )
    process.exit(1)
  }
  server.once('error', cannotListen)
  server.listen(settings.port, settings.host, () => {
    // Listening: a later server error (an accept failure) is logged, the process keeps serving.
    server.off('error', cannotListen)
    server.on('error', (error: NodeJS.ErrnoException) =>
      logger.error({ event: 'server.error', code: error.code }, 'server error'),
    )
    const { port } = server.address() as AddressInfo
    logger.info(
      {
        event: 'startup.listening',
        port,
        host: settings.host,
        publicUrl: config.publicUrl,
        limits: settings.limits,
      },
      `listening on ${settings.host}:${port}`,
    )
  })

  const metricsServer =
    settings.metricsPort === undefined
      ? undefined
      : serve(
          {
            fetch: bff.metricsApp().fetch,
            port: settings.metricsPort,
            hostname: settings.metricsHost,
          },
          (info) => {
            logger.info(
              { event: 'startup.metrics', port: info.port, host: settings.metricsHost },
              'metrics listening',
            )
          },
        )

  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    logger.info(
      { event: 'shutdown.started', signal },
      'stopping: no new connections, finishing in-flight requests',
    )
    const force = setTimeout(() => {
      logger.warn({ event: 'shutdown.forced' }, 'grace period over; closing remaining connections')
      server.closeAllConnections()
    }, settings.shutdownGraceSeconds * 1000)
    force.unref()
    server.closeIdleConnections()
    // WebSockets and streams never finish on their own: told to go (clients reconnect elsewhere).
    bff.goAway()
    metricsServer?.close()
    server.close(async () => {
      await bff.close()
      // The last spans (this shutdown's requests among them) are still batched.
      await tracing?.shutdown(TRACE_FLUSH_MS)
      logger.info({ event: 'shutdown.completed' }, 'stopped')
      process.exit(0)
    })
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

void main()
