import { createServer, type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import { createRemoteJWKSet, customFetch, type JWTPayload, jwtVerify } from 'jose'
import { listen } from '../listen.js'
import { DpopProofs } from './dpop-proofs.js'
import { acceptWebSocket, type ServerSocket } from './websocket.js'

export interface DemoApiOptions {
  port?: number
  host?: string
  issuer: string
  jwksUri: string
  audience: string
  /** For the JWKS request (a test that trusts its provider's throwaway certificate). */
  fetch?: typeof fetch
  /** DPoP-bound tokens need a proof with the nonce this API gives (RFC 9449 §9). */
  dpopNonces?: boolean
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
  /** The token was DPoP-bound and came with a valid proof (RFC 9449). */
  dpop?: boolean
  /** Why a request was refused (401): the token, or its DPoP proof. */
  error?: string
}

export interface DemoApi {
  url: string
  port: number
  /** The last bearer token presented, valid or not; undefined when none was. */
  lastBearer(): string | undefined
  /** The last DPoP proof presented: what an attacker reading this API's logs could replay. */
  lastProof(): string | undefined
  requests(): DemoApiRequest[]
  /** The DPoP checks, to rotate the nonce. */
  dpop: DpopProofs
  stop(): Promise<void>
}

const ALGORITHMS = ['RS256', 'PS256', 'ES256']

/** A caller's credentials as the API judged them. */
type Caller =
  | { ok: true; payload: JWTPayload; dpop: boolean }
  | { ok: false; error: string; challenge: Record<string, string> }

/**
 * Echoes every request back after checking its JWT access token, so tests can see
 * exactly what the broker forwarded. The authorization header itself is never echoed.
 * A DPoP-bound token (cnf.jkt) is accepted only with the `DPoP` scheme and a valid proof.
 * GET /live is a WebSocket that ticks once a second (the web demo's live panel).
 */
export async function startDemoApi(options: DemoApiOptions): Promise<DemoApi> {
  const jwks = createRemoteJWKSet(
    new URL(options.jwksUri),
    options.fetch ? { [customFetch]: options.fetch } : {},
  )
  const log: DemoApiRequest[] = []
  let lastBearer: string | undefined
  let lastProof: string | undefined
  const dpop = new DpopProofs({ requireNonce: options.dpopNonces ?? false })
  let origin = ''

  /** The token (either scheme) verified, and for a DPoP-bound one its proof too. */
  async function authenticate(req: IncomingMessage, method: string, path: string): Promise<Caller> {
    const presented = presentedToken(req.headers.authorization)
    if (presented) lastBearer = presented.token
    const payload = presented ? await verify(presented.token) : undefined
    const invalid = { 'www-authenticate': 'Bearer error="invalid_token"' }
    if (!presented || !payload) return { ok: false, error: 'invalid_token', challenge: invalid }
    const jkt = (payload.cnf as { jkt?: unknown } | undefined)?.jkt
    if (typeof jkt !== 'string') {
      return presented.scheme === 'bearer'
        ? { ok: true, payload, dpop: false }
        : { ok: false, error: 'invalid_token', challenge: invalid }
    }
    // RFC 9449 §7.2: a bound token is never accepted as a bearer.
    if (presented.scheme !== 'dpop')
      return { ok: false, error: 'invalid_token', challenge: invalid }
    const proof = req.headers.dpop
    if (typeof proof === 'string') lastProof = proof
    const verdict = await dpop.check({
      method,
      htu: `${origin}${path.split('?')[0]}`,
      proof: typeof proof === 'string' ? proof : undefined,
      accessToken: presented.token,
      jkt,
    })
    if (verdict.ok) return { ok: true, payload, dpop: true }
    return {
      ok: false,
      error: verdict.error,
      challenge: {
        'www-authenticate': `DPoP error="${verdict.error}", algs="ES256"`,
        ...(verdict.nonce && { 'dpop-nonce': verdict.nonce }),
      },
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET'
    const path = req.url ?? '/'
    const body = await readBody(req)
    const caller = await authenticate(req, method, path)
    if (!caller.ok) {
      log.push({ method, path, status: 401, error: caller.error })
      sendJson(res, 401, { error: caller.error }, caller.challenge)
      return
    }
    const { payload } = caller
    const { authorization, dpop: _proof, ...receivedHeaders } = req.headers
    log.push({ method, path, sub: payload.sub, status: 200, dpop: caller.dpop })
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
    const caller = await authenticate(req, 'GET', path)
    const payload = caller.ok ? caller.payload : undefined
    if (!payload || !path.startsWith('/live')) {
      const status = payload ? 404 : 401
      const error = caller.ok ? undefined : caller.error
      log.push({ method: 'GET', path, status, websocket: true, ...(error && { error }) })
      // A refused handshake carries the same challenge (and DPoP nonce) as any refused call.
      const challenge = caller.ok ? {} : caller.challenge
      const lines = Object.entries(challenge).map(([name, value]) => `${name}: ${value}\r\n`)
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${lines.join('')}content-length: 0\r\n\r\n`,
      )
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
  origin = `http://127.0.0.1:${port}`

  return {
    url: origin,
    port,
    lastBearer: () => lastBearer,
    lastProof: () => lastProof,
    requests: () => [...log],
    dpop,
    stop: () =>
      new Promise((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()))
        server.closeAllConnections()
        for (const ws of sockets) ws.close(1001, 'going away')
      }),
  }
}

function presentedToken(
  header: string | undefined,
): { scheme: 'bearer' | 'dpop'; token: string } | undefined {
  const match = header?.match(/^(Bearer|DPoP)\s+(\S+)\s*$/i)
  if (!match?.[1] || !match[2]) return undefined
  return { scheme: match[1].toLowerCase() as 'bearer' | 'dpop', token: match[2] }
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
