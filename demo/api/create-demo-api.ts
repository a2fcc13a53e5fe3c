import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createRemoteJWKSet, customFetch, type JWTPayload, jwtVerify } from 'jose'
import { listen } from '../listen.js'

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
