import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { Duplex } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { type DemoApi, startDemoApi } from '../../demo/api/create-demo-api.js'
import { listen } from '../../demo/listen.js'
import {
  ACR_TWO_FACTOR,
  type DevProvider,
  startDevProvider,
} from '../../demo/provider/create-provider.js'
import { type Bff, createBff } from '../../src/app.js'
import { createLimitedServer } from '../../src/http/limited-server.js'
import type { Clock } from '../../src/lib/clock.js'
import { createLogger } from '../../src/observability/logger.js'
import { RedisSessionStore } from '../../src/store/redis-session-store.js'
import { freePort } from '../../test/support/free-port.js'
import { startRedis, type TestRedis } from '../../test/support/redis.js'
import { resolveTestHostsToLoopback, TEST_HOSTS } from './test-hosts.js'
import { throwawayCertificate, trustingFetch } from './tls.js'

// The whole system under test, in the Playwright worker's own process, so tests can read
// the provider's counters, the demo API's request log and the session store directly:
//
//   Chromium ──▶ https://app.test:<p>  broker (TLS) + web-demo ──▶ http://api.test:<p> demo API
//            ──▶ https://idp.test:<p>  oidc-provider (TLS)  ◀──── broker (discovery, token)
//            ──▶ http://evil.test:<p>  attacker pages
//
// Distinct host names make distinct sites: two ports of one host share a cookie jar and
// would hide every SameSite mistake.

const CLIENT_ID = 'bff-e2e'
const STATIC_DIR = fileURLToPath(new URL('../../web-demo/dist', import.meta.url))
/** Short, so a few seconds of (shifted) time reach an expired access token. */
export const ACCESS_TOKEN_TTL_SECONDS = 20
/** Added to every token endpoint call (code exchange and refresh). */
const TOKEN_LATENCY_MS = 300
/** The minimum the broker accepts; the expiry scenario jumps the clock past it. */
export const SHORT_IDLE_TIMEOUT_SECONDS = 60

/** The brokers' time: real time plus an offset a test may move forward (reset after each test). */
export class ShiftableClock implements Clock {
  offsetMs = 0
  now(): number {
    return Date.now() + this.offsetMs
  }
  advance(ms: number): void {
    this.offsetMs += ms
  }
  reset(): void {
    this.offsetMs = 0
  }
}

/** One request as the broker saw it, for asserting what the browser did (or did not) send. */
export interface BrokerRequest {
  method: string
  /** Path and query. */
  path: string
  origin: string | null
  secFetchSite: string | null
  /** Whether the request carried the session cookie. */
  withSession: boolean
  withCsrfHeader: boolean
  status: number
  /** The answer's headers, and its body for /auth/* answers (small pages and JSON). */
  headers: Record<string, string | string[] | number | undefined>
  body?: string
  /** A WebSocket handshake (its status: the broker's refusal, or 101). */
  websocket?: boolean
}

export interface E2eBroker {
  /** `https://app.test:<port>` */
  url: string
  port: number
  bff: Bff
  store: RedisSessionStore
  /** For unsealing the session cookie the browser holds. */
  cookiePasswords: Record<string, string>
  requests: BrokerRequest[]
  stop(): Promise<void>
}

export interface Stack {
  redis: TestRedis
  provider: DevProvider
  /** The demo API as the broker reaches it (`http://api.test:<port>`) and its request log. */
  api: { url: string; requests: DemoApi['requests'] }
  /** The broker as deployed by default (30 min idle timeout). */
  broker: E2eBroker
  /** Same provider and API, a 60 s idle timeout: for the expiry scenario. */
  shortIdleBroker: E2eBroker
  /** `http://evil.test:<port>`: serves a blank page; tests script the attack in it. */
  evilUrl: string
  clock: ShiftableClock
  stop(): Promise<void>
}

export async function startStack(): Promise<Stack> {
  resolveTestHostsToLoopback()
  const stops: (() => Promise<void>)[] = []
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {})
  }
  try {
    const redis = await startRedis()
    stops.push(() => redis.stop())

    // The provider must know the redirect URIs, and the API its audience, before they start.
    const brokerPort = await freePort()
    const shortIdlePort = await freePort()
    const apiPort = await freePort()
    const brokerUrl = `https://${TEST_HOSTS.app}:${brokerPort}`
    const shortIdleUrl = `https://${TEST_HOSTS.app}:${shortIdlePort}`
    const apiUrl = `http://${TEST_HOSTS.api}:${apiPort}`
    const clientSecret = `e2e-only-${randomBytes(24).toString('base64url')}`

    // The provider is on another site than the app, over TLS like a real one: the broker's
    // end-session form is posted to it from an https page, and its cookies are SameSite=None
    // so that cross-site POST carries its session (a Lax cookie would not go with it).
    const idpTls = throwawayCertificate(TEST_HOSTS.idp)
    const trusting = trustingFetch([idpTls.cert])
    const provider = await startDevProvider({
      host: '127.0.0.1',
      publicHost: TEST_HOSTS.idp,
      tls: idpTls,
      cookieSameSite: 'none',
      accessTokenTtlSeconds: ACCESS_TOKEN_TTL_SECONDS,
      apiAudience: apiUrl,
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: clientSecret,
          token_endpoint_auth_method: 'client_secret_basic',
          redirect_uris: [`${brokerUrl}/auth/callback`, `${shortIdleUrl}/auth/callback`],
          post_logout_redirect_uris: [
            `${brokerUrl}/auth/signed-out`,
            `${shortIdleUrl}/auth/signed-out`,
          ],
        },
      ],
    })
    stops.push(() => provider.stop())
    // A real provider is a network hop away. Without that latency a refresh finishes before
    // the rest of a burst arrives, and a broker without single-flight could pass by luck.
    provider.provider.use(async (ctx, next) => {
      if (ctx.path === '/token')
        await new Promise((resolve) => setTimeout(resolve, TOKEN_LATENCY_MS))
      await next()
    })

    const api = await startDemoApi({
      port: apiPort,
      host: '127.0.0.1',
      issuer: provider.issuer,
      jwksUri: provider.jwksUri,
      audience: apiUrl,
      fetch: trusting,
    })
    stops.push(() => api.stop())

    const clock = new ShiftableClock()
    const tls = throwawayCertificate(TEST_HOSTS.app)
    const common = {
      issuer: provider.issuer,
      clientSecret,
      apiUrl,
      clock,
      tls,
      redis,
      providerFetch: trusting,
    }
    const broker = await startBroker({ ...common, url: brokerUrl, port: brokerPort })
    stops.push(() => broker.stop())
    const shortIdleBroker = await startBroker({
      ...common,
      url: shortIdleUrl,
      port: shortIdlePort,
      sessionIdleTimeoutSeconds: SHORT_IDLE_TIMEOUT_SECONDS,
    })
    stops.push(() => shortIdleBroker.stop())

    const evil = await startEvilSite()
    stops.push(() => closeServer(evil.server))

    return {
      redis,
      provider,
      api: { url: apiUrl, requests: () => api.requests() },
      broker,
      shortIdleBroker,
      evilUrl: evil.url,
      clock,
      stop: stopAll,
    }
  } catch (error) {
    await stopAll()
    throw error
  }
}

interface BrokerInput {
  url: string
  port: number
  issuer: string
  clientSecret: string
  apiUrl: string
  clock: Clock
  tls: { key: string; cert: string }
  redis: TestRedis
  /** Trusts the provider's throwaway certificate. */
  providerFetch: typeof fetch
  sessionIdleTimeoutSeconds?: number
}

async function startBroker(input: BrokerInput): Promise<E2eBroker> {
  const cookieSecrets = [{ id: 1, secret: `e2e-only-${randomBytes(24).toString('base64url')}` }]
  const store = new RedisSessionStore({
    url: input.redis.url,
    keyPrefix: `e2e-${randomBytes(4).toString('hex')}:`,
  })
  const bff = createBff(
    {
      publicUrl: input.url,
      issuer: input.issuer,
      clientId: CLIENT_ID,
      clientSecret: input.clientSecret,
      cookieSecrets,
      tokenEncryptionKeys: [{ id: 1, key: randomBytes(32).toString('base64') }],
      apiRoutes: [
        { prefix: '/api/demo', upstream: input.apiUrl, websocket: true },
        { prefix: '/api/sensitive', upstream: input.apiUrl, acr: [ACR_TWO_FACTOR] },
      ],
      staticDir: STATIC_DIR,
      ...(input.sessionIdleTimeoutSeconds
        ? { sessionIdleTimeoutSeconds: input.sessionIdleTimeoutSeconds }
        : {}),
    },
    {
      // E2E_BROKER_LOG=debug shows the broker's JSON log lines while debugging a scenario.
      logger: createLogger(process.env.E2E_BROKER_LOG ?? 'silent'),
      clock: input.clock,
      store,
      providerFetch: (url, options) => input.providerFetch(url, options as RequestInit),
    },
  )
  await bff.ready()

  const requests: BrokerRequest[] = []
  const cookieName = bff.config.cookieName
  const csrfHeader = bff.config.csrfHeaderName
  // The broker's own node listener (its /api lane included), wrapped to log each request as
  // it left the broker: recorded when the answer is written (or the connection closes first).
  const listener = bff.nodeListener()
  /** What the browser sent, as the tests read it. */
  const seenRequest = (req: IncomingMessage) => {
    const header = (name: string) => {
      const value = req.headers[name]
      return (Array.isArray(value) ? value.join(', ') : value) ?? null
    }
    const url = new URL(req.url ?? '/', input.url)
    return {
      method: req.method ?? '',
      path: url.pathname + url.search,
      origin: header('origin'),
      secFetchSite: header('sec-fetch-site'),
      withSession: (header('cookie') ?? '')
        .split(/;\s*/)
        .some((c) => c.startsWith(`${cookieName}=`)),
      withCsrfHeader: req.headers[csrfHeader] !== undefined,
    }
  }
  const server = createLimitedServer(
    (req, res) => {
      let recorded = false
      const chunks: Buffer[] = []
      if ((req.url ?? '').startsWith('/auth/')) {
        // Keep a copy of what the browser is sent: a page may be gone before the test reads it.
        const write = res.write.bind(res) as (...args: unknown[]) => boolean
        const end = res.end.bind(res) as (...args: unknown[]) => typeof res
        const keep = (chunk: unknown) => {
          if (typeof chunk === 'string' || chunk instanceof Uint8Array)
            chunks.push(Buffer.from(chunk))
        }
        res.write = ((chunk: unknown, ...rest: unknown[]) => {
          keep(chunk)
          return write(chunk, ...rest)
        }) as typeof res.write
        res.end = ((chunk?: unknown, ...rest: unknown[]) => {
          if (typeof chunk !== 'function') keep(chunk)
          return end(chunk, ...rest)
        }) as typeof res.end
      }
      const record = () => {
        if (recorded) return
        recorded = true
        requests.push({
          ...seenRequest(req),
          status: res.statusCode,
          headers: res.getHeaders(),
          ...(chunks.length > 0 ? { body: Buffer.concat(chunks).toString('utf8') } : {}),
        })
      }
      res.once('finish', record)
      res.once('close', record)
      listener(req, res)
    },
    {
      // The standalone server's deadlines and connection caps, over TLS.
      tls: { key: input.tls.key, cert: input.tls.cert },
      logger: bff.logger,
      metrics: bff.metrics,
    },
  )
  // WebSocket handshakes: the broker's upgrade listener, logged like requests (the status is
  // read from the first line the broker writes back, a refusal or the 101).
  const upgrade = bff.upgradeListener()
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean
    const end = socket.end.bind(socket) as (...args: unknown[]) => Duplex
    let recorded = false
    const record = (chunk: unknown) => {
      if (recorded) return
      recorded = true
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(String(chunk ?? ''))?.[1] ?? 0)
      requests.push({ ...seenRequest(req), status, headers: {}, websocket: true })
    }
    socket.write = ((chunk: unknown, ...rest: unknown[]) => {
      record(chunk)
      return write(chunk, ...rest)
    }) as typeof socket.write
    socket.end = ((chunk?: unknown, ...rest: unknown[]) => {
      if (typeof chunk !== 'function') record(chunk)
      return end(chunk, ...rest)
    }) as typeof socket.end
    upgrade(req, socket, head)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(input.port, '127.0.0.1', resolve)
  })

  return {
    url: input.url,
    port: input.port,
    bff,
    store,
    cookiePasswords: Object.fromEntries(cookieSecrets.map((s) => [String(s.id), s.secret])),
    requests,
    async stop() {
      bff.goAway()
      await closeServer(server as Server)
      await bff.close()
    },
  }
}

/** The attacker's site: any GET answers an empty page; the test scripts the attack inside it. */
async function startEvilSite(): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end('<!doctype html><meta charset="utf-8"><title>evil.test</title><h1>Free prizes</h1>')
  })
  const port = await listen(server, 0, '127.0.0.1')
  return { url: `http://${TEST_HOSTS.evil}:${port}`, server }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}
