import { createServer, type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import { createRemoteJWKSet, customFetch, type JWTPayload, jwtVerify } from 'jose'
import { listen } from '../listen.js'
import { acceptWebSocket, type ServerSocket } from './websocket.js'

export interface DemoApiOptions {
  port?: number
  host?: string
  issuer: string
  jwksUri: string
  audience: string
  /** For the JWKS request (a test that trusts its provider's throwaway certificate). */
  fetch?: typeof fetch
}

export interface DemoApiRequest {
  method: string
  path: string
  sub?: string
  status: number
  /** A WebSocket handshake (101 when accepted). */
  websocket?: boolean
  /** The close code the client sent, once an accepted WebSocket has closed. */
  closeCode?: number | undefined
}

export interface DemoApi {
  url: string
  port: number
  /** The last bearer token presented, valid or not; undefined when none was. */
  lastBearer(): string | undefined
  requests(): DemoApiRequest[]
  stop(): Promise<void>
}

const ALGORITHMS = ['RS256', 'PS256', 'ES256']

/**
 * Echoes every request back after checking its JWT access token, so tests can see
 * exactly what the broker forwarded. The authorization header itself is never echoed.
 * GET /live is a WebSocket that ticks once a second (the web demo's live panel).
 */
export async function startDemoApi(options: DemoApiOptions): Promise<DemoApi> {
  const jwks = createRemoteJWKSet(
    new URL(options.jwksUri),
    options.fetch ? { [customFetch]: options.fetch } : {},
  )
  const log: DemoApiRequest[] = []
  let lastBearer: string | undefined

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET'
    const path = req.url ?? '/'
    const body = await readBody(req)
    const bearer = bearerToken(req.headers.authorization)
    if (bearer !== undefined) lastBearer = bearer
    const payload = bearer ? await verify(bearer) : undefined
    if (!payload) {
      log.push({ method, path, status: 401 })
      sendJson(
        res,
        401,
        { error: 'invalid_token' },
        { 'www-authenticate': 'Bearer error="invalid_token"' },
      )
      return
    }
    const { authorization, ...receivedHeaders } = req.headers
    log.push({ method, path, sub: payload.sub, status: 200 })
    sendJson(res, 200, {
      sub: payload.sub,
      scope: payload.scope,
      path,
      method,
      hasAuthorization: authorization !== undefined,
      receivedHeaders,
      body: body === '' ? null : body,
    })
  }

  async function verify(token: string): Promise<JWTPayload | undefined> {
    try {
      const { payload } = await jwtVerify(token, jwks, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms: ALGORITHMS,
      })
      return payload
    } catch {
      return undefined
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error' })
      else res.end()
    })
  })
  const sockets = new Set<ServerSocket>()
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    live(req, socket, head).catch(() => socket.destroy())
  })

  /**
   * GET /live as a WebSocket, for the web demo's live panel: the bearer is checked on the
   * handshake, then a tick every second until either side closes. The close code the client
   * sent is logged (4401 when the broker closed it because the session ended).
   */
  async function live(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const path = req.url ?? '/'
    const bearer = bearerToken(req.headers.authorization)
    if (bearer !== undefined) lastBearer = bearer
    const payload = bearer ? await verify(bearer) : undefined
    if (!payload || !path.startsWith('/live')) {
      const status = payload ? 404 : 401
      log.push({ method: 'GET', path, status, websocket: true })
      socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-length: 0\r\n\r\n`)
      return
    }
    const entry: DemoApiRequest = {
      method: 'GET',
      path,
      sub: payload.sub,
      status: 101,
      websocket: true,
    }
    log.push(entry)
    const ws = acceptWebSocket(req, socket, head)
    sockets.add(ws)
    let n = 0
    const tick = () =>
      ws.send(JSON.stringify({ n: ++n, sub: payload.sub, at: new Date().toISOString() }))
    tick()
    const timer = setInterval(tick, 1000)
    const { code } = await ws.closed
    clearInterval(timer)
    sockets.delete(ws)
    entry.closeCode = code
  }
  const port = await listen(server, options.port ?? 0, options.host ?? '127.0.0.1')

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    lastBearer: () => lastBearer,
    requests: () => [...log],
    stop: () =>
      new Promise((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()))
        server.closeAllConnections()
        for (const ws of sockets) ws.close(1001, 'going away')
      }),
  }
}

function bearerToken(header: string | undefined): string | undefined {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i)
  return match?.[1]
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    ...headers,
  })
  res.end(JSON.stringify(body))
}
