import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http'
import {
  createServer as createHttpsServer,
  type Server as HttpsServer,
  type ServerOptions as HttpsServerOptions,
} from 'node:https'
import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import {
  parseServerLimits,
  type ServerLimits,
  type ServerLimitsOptions,
} from '../config/server-limits.js'
import { readOpenFileLimit } from '../lib/open-file-limit.js'
import { BurstLog } from '../observability/burst-log.js'
import { createLogger } from '../observability/logger.js'
import type { BffMetrics } from '../observability/metrics.js'
import {
  type ConnectionEvents,
  type ConnectionRefusal,
  guardConnections,
} from './connection-caps.js'

/**
 * How often Node looks for requests past their header or request deadline. Its default is 30 s,
 * so a 10 s header deadline held a trickling connection for up to 40 s; checking every second
 * closes it within a second of its deadline (Node checks nowhere else).
 */
const CONNECTIONS_CHECKING_INTERVAL_MS = 1000
/** At most one warning line per this long about refused and timed-out connections. */
const LOG_INTERVAL_MS = 10_000

type TimeoutReason = 'headers_timeout' | 'request_timeout' | 'handshake_timeout'
type Reason = ConnectionRefusal | TimeoutReason
const REASONS: readonly Reason[] = [
  'max_connections',
  'max_connections_per_address',
  'headers_timeout',
  'request_timeout',
  'handshake_timeout',
]

export interface LimitedServerOptions {
  /** Deadlines and caps; every field has a default (see config/server-limits.ts). */
  limits?: ServerLimitsOptions
  /** CIDR ranges of reverse proxies: exempt from the per-address cap, counted in the total. */
  trustedProxies?: readonly string[]
  /** Gets one `connections.limited` warning per burst. Defaults to pino on stdout. */
  logger?: Logger
  /** Where the connection gauge and counters go (the broker's, `bff.metrics`). */
  metrics?: BffMetrics
  /** Serve https with these options (key, cert…); the TLS handshake gets the header deadline. */
  tls?: HttpsServerOptions
  /** Defaults to the process's, read from /proc/self/limits; MAX_CONNECTIONS must fit half of it. */
  openFileLimit?: number
}

/**
 * A Node server for the broker's listener that a client cannot starve by holding connections
 * open (design.md, trap 9): deadlines for headers and for the whole request, checked every
 * second; an idle keep-alive timeout; a cap on open connections in all and per client address,
 * past which a new connection is closed at once, before the process runs out of file
 * descriptors. Refused and timed-out connections are counted in metrics and summed up in one
 * warning line per burst.
 */
export function createLimitedServer(
  listener: RequestListener,
  options: LimitedServerOptions & { tls: HttpsServerOptions },
): HttpsServer
export function createLimitedServer(
  listener: RequestListener,
  options?: LimitedServerOptions,
): Server
export function createLimitedServer(
  listener: RequestListener,
  options: LimitedServerOptions = {},
): Server | HttpsServer {
  const limits = parseServerLimits(options.limits ?? {}, {
    openFileLimit: options.openFileLimit ?? readOpenFileLimit(),
  })
  const deadlines = {
    headersTimeout: limits.headersTimeoutSeconds * 1000,
    requestTimeout: limits.requestTimeoutSeconds * 1000,
    // Node closes an idle connection 1 s after the Keep-Alive timeout it announces.
    keepAliveTimeout: limits.keepAliveTimeoutSeconds * 1000,
    connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
  }
  const server = options.tls
    ? createHttpsServer(
        { ...options.tls, ...deadlines, handshakeTimeout: deadlines.headersTimeout },
        listener,
      )
    : createServer(deadlines, listener)
  const events = connectionEvents(limits, options)
  guardConnections(server, { limits, trustedProxies: options.trustedProxies ?? [], events })
  watchDeadlines(server, Boolean(options.tls), events)
  server.on('close', () => events.flush())
  return server
}

interface Events extends ConnectionEvents {
  timedOut(reason: TimeoutReason): void
  flush(): void
}

/** Metrics for every event; one warning line per burst of refusals and timeouts. */
function connectionEvents(limits: ServerLimits, options: LimitedServerOptions): Events {
  const { metrics } = options
  const logger = options.logger ?? createLogger()
  let open = 0
  const log = new BurstLog<Reason>({
    reasons: REASONS,
    intervalMs: LOG_INTERVAL_MS,
    write: (counts) =>
      logger.warn(
        { event: 'connections.limited', counts, open, limits },
        'connections refused or closed for missing their deadline (counts since the last such line)',
      ),
  })
  return {
    refused(reason) {
      metrics?.connectionsRefused.inc({ reason })
      log.note(reason)
    },
    timedOut(reason) {
      metrics?.connectionsTimedOut.inc({ reason })
      log.note(reason)
    },
    opened() {
      open++
      metrics?.connectionsOpen.inc()
    },
    closed() {
      open--
      metrics?.connectionsOpen.dec()
    },
    flush: () => log.flush(),
  }
}

/**
 * Node reports a missed header or request deadline only as ERR_HTTP_REQUEST_TIMEOUT on the
 * socket (it answers 408 and closes it); whether the headers had arrived tells the two apart:
 * the socket's last request is then still incomplete.
 */
function watchDeadlines(server: Server | HttpsServer, tls: boolean, events: Events): void {
  const lastRequest = new WeakMap<Socket, IncomingMessage>()
  server.on('request', (req: IncomingMessage) => lastRequest.set(req.socket, req))
  // The HTTP parser runs on the TLS socket for https, on the TCP socket for http.
  server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => {
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ERR_HTTP_REQUEST_TIMEOUT') return
      const req = lastRequest.get(socket)
      events.timedOut(req && !req.complete ? 'request_timeout' : 'headers_timeout')
    })
  })
  if (tls) {
    server.on('tlsClientError', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') events.timedOut('handshake_timeout')
    })
  }
}
