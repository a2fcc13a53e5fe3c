import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import type { Server } from 'node:http'
import { fileURLToPath } from 'node:url'
import { type Bff, createBff } from '../src/app.js'
import { ConfigError } from '../src/config/config-error.js'
import { loadServerSettings, type ServerSettings } from '../src/config/server-settings.js'
import { createLimitedServer } from '../src/http/limited-server.js'
import { readOpenFileLimit } from '../src/lib/open-file-limit.js'
import { createLogger } from '../src/observability/logger.js'
import { startDemoApi } from './api/create-demo-api.js'
import { ACR_TWO_FACTOR, startDevProvider } from './provider/create-provider.js'

// The one-command local demo (`npm run demo`): dev OpenID provider, demo API and the broker
// in this one process, so Ctrl-C stops all of it. A dev launcher, not the library: it may
// read process.env. Nothing here is fit for production — plain-http issuer, secrets that
// exist only in memory, passwords printed to the terminal.

const CLIENT_ID = 'bff-demo'
const STATIC_DIR = fileURLToPath(new URL('../web-demo/dist', import.meta.url))

/** Made fresh at every start and never written anywhere, so none can leak from the repo. */
function devOnlySecret(bytes: number): string {
  return `dev-only-${randomBytes(bytes).toString('base64url')}`
}

function port(name: string, fallback: number): number {
  const raw = process.env[name]?.trim()
  if (!raw) return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    console.error(`demo: ${name}: expected a TCP port number, got ${JSON.stringify(raw)}`)
    process.exit(1)
  }
  return value
}

function loadSettings(): ServerSettings {
  try {
    return loadServerSettings(process.env, { openFileLimit: readOpenFileLimit() })
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    for (const issue of error.issues) console.error(`config error: ${issue}`)
    process.exit(1)
  }
}

/**
 * The broker as the standalone server serves it: its node listener (the /api lane included)
 * and its upgrade listener (WebSocket), with its limits.
 */
function listen(bff: Bff, settings: ServerSettings): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createLimitedServer(bff.nodeListener(), {
      limits: settings.limits,
      trustedProxies: bff.config.trustedProxies,
      logger: bff.logger,
      metrics: bff.metrics,
    })
    server.on('upgrade', bff.upgradeListener())
    server.once('error', reject)
    server.listen(settings.port, settings.host, () => resolve(server))
  })
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

const settings = loadSettings()
const providerPort = port('DEMO_PROVIDER_PORT', 4010)
const apiPort = port('DEMO_API_PORT', 4020)
const publicUrl = (process.env.PUBLIC_URL?.trim() || `http://localhost:${settings.port}`).replace(
  /\/$/,
  '',
)
const apiAudience = `http://localhost:${apiPort}`
const clientSecret = devOnlySecret(24)
const cookieSecret = devOnlySecret(36)
const logger = createLogger(settings.logLevel)

/** Everything started so far, stopped in reverse order. */
const stops: (() => Promise<void>)[] = []
let stoppingSince = 0

async function stopAll(exitCode: number): Promise<never> {
  stoppingSince ||= Date.now()
  for (const stop of stops.reverse()) {
    await stop().catch((error: unknown) => console.error(`demo: stop failed: ${String(error)}`))
  }
  process.exit(exitCode)
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stoppingSince) {
      // Ctrl-C can arrive twice at once (from the terminal and forwarded by npm): only a
      // later, deliberate second press forces the exit.
      if (Date.now() - stoppingSince < 1000) return
      console.error('demo: second signal, exiting now')
      process.exit(1)
    }
    console.log(`\ndemo: ${signal} received, stopping broker, demo API and provider…`)
    void stopAll(0)
  })
}

try {
  if (!existsSync(`${STATIC_DIR}/index.html`)) {
    console.warn(
      `demo: ${STATIC_DIR} is not built; run "npx vite build web-demo" (npm run demo does)`,
    )
  }

  const provider = await startDevProvider({
    port: providerPort,
    publicHost: 'localhost',
    apiAudience,
    // Short-lived access tokens, so the broker's refresh is visible within a minute.
    accessTokenTtlSeconds: 60,
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: clientSecret,
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: [`${publicUrl}/auth/callback`],
        post_logout_redirect_uris: [`${publicUrl}/auth/signed-out`],
        backchannel_logout_uri: `${publicUrl}/auth/backchannel-logout`,
        backchannel_logout_session_required: true,
      },
    ],
  })
  stops.push(() => provider.stop())

  const api = await startDemoApi({
    port: apiPort,
    issuer: provider.issuer,
    jwksUri: provider.jwksUri,
    audience: apiAudience,
  })
  stops.push(() => api.stop())

  logger.warn(
    { event: 'config.dangerous' },
    'DANGEROUSLY_ALLOW_HTTP_ISSUER is on: provider traffic is not encrypted. Local demo only; never use this in production.',
  )
  const redisUrl = process.env.REDIS_URL?.trim()
  // Without redisUrl the broker picks its in-process store and logs that it does.
  const bff = createBff(
    {
      publicUrl,
      issuer: provider.issuer,
      clientId: CLIENT_ID,
      clientSecret,
      dangerouslyAllowHttpIssuer: true,
      // oidc-provider takes POST at end_session only with SameSite=None cookies, which must be
      // Secure (https); the demo provider is plain http on localhost, so sign-out uses the GET
      // fallback (no ID token in the URL; the provider asks to confirm).
      endSessionMethod: 'get',
      cookieSecrets: [{ id: 1, secret: cookieSecret }],
      // dev-only: a fresh key at every start (sessions in Redis do not survive a demo restart).
      tokenEncryptionKeys: [{ id: 1, key: randomBytes(32).toString('base64') }],
      // websocket: the live panel's socket (GET /api/demo/live) goes through the broker too.
      apiRoutes: [
        { prefix: '/api/demo', upstream: api.url, websocket: true },
        // Step-up: this route needs a sign-in with the provider's one-time code as well.
        { prefix: '/api/sensitive', upstream: api.url, acr: [ACR_TWO_FACTOR] },
      ],
      staticDir: STATIC_DIR,
      ...(redisUrl ? { redisUrl } : {}),
    },
    { logger },
  )
  stops.push(() => bff.close())
  await bff.ready()

  const server = await listen(bff, settings)
  stops.push(() => {
    bff.goAway() // live sockets would keep the server open
    return closeServer(server)
  })

  const users = Object.entries(provider.users)
    .map(([name, user]) => `${name} / ${user.password} (one-time code ${user.oneTimeCode})`)
    .join('\n               ')
  const store =
    bff.stores.kind === 'redis'
      ? `Redis at ${redisUrl}`
      : 'in-process memory (sessions end when this process stops; set REDIS_URL=redis://… for Redis)'
  const rule = '─'.repeat(78)
  console.log(
    [
      '',
      rule,
      '  session-broker demo: LOCAL DEMO ONLY',
      '',
      `  Open         ${publicUrl}`,
      `  Sign in as   ${users}`,
      '               (dev-only passwords and codes, new at every start)',
      `  Provider     ${provider.issuer}  (oidc-provider; access tokens live 60 s)`,
      `  Demo API     ${api.url}  proxied at ${publicUrl}/api/demo`,
      `  Store        ${store}`,
      '',
      '  WARNING: DANGEROUSLY_ALLOW_HTTP_ISSUER is on: the broker talks to the provider over',
      '  plain http and the client and cookie secrets were generated for this run only.',
      '  Never run a broker configured like this in production.',
      '',
      '  Ctrl-C to stop.',
      rule,
      '',
    ].join('\n'),
  )
} catch (error) {
  console.error(`demo: could not start: ${error instanceof Error ? error.message : String(error)}`)
  await stopAll(1)
}
