import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface EchoedRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: string
}

export interface EchoUpstream {
  url: string
  server: import('node:http').Server
  requests: EchoedRequest[]
  /** Per-test behaviour: return true when the handler answered itself. */
  handler?: (
    req: import('node:http').IncomingMessage,
    res: import('node:http').ServerResponse,
  ) => boolean
  stop(): Promise<void>
}

/** An upstream API that records what reached it and echoes it back as JSON. */
export async function startEchoUpstream(): Promise<EchoUpstream> {
  const echo: EchoUpstream = {
    url: '',
    get server() {
      return server
    },
    requests: [],
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const record = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      }
      echo.requests.push(record)
      if (echo.handler?.(req, res)) return
      res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'upstream=1; Path=/' })
      res.end(JSON.stringify(record))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  echo.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return echo
}

/**
 * From now on the upstream closes, unanswered, every request that arrives on a connection
 * opened before this call (a kept-alive socket it drops), and answers 200 "ok" on new
 * connections. Returns what undoes it.
 */
export function dropKeptAliveConnections(echo: EchoUpstream): () => void {
  const fresh = new WeakSet<object>()
  const mark = (socket: object) => fresh.add(socket)
  echo.server.on('connection', mark)
  echo.handler = (req, res) => {
    if (!fresh.has(req.socket)) {
      req.socket.destroy()
      return true
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
    return true
  }
  return () => {
    echo.server.off('connection', mark)
    delete echo.handler
  }
}

/**
 * Answers 200 with a body that never ends, written as fast as the connection takes it;
 * `onClose` runs when the answer's connection is closed (by the broker, say).
 */
export function endlessAnswer(res: import('node:http').ServerResponse, onClose: () => void): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream' })
  const chunk = Buffer.alloc(64 * 1024, 1)
  const more = () => {
    while (!res.destroyed && res.write(chunk)) {}
    if (!res.destroyed) res.once('drain', more)
  }
  res.on('close', onClose)
  more()
}
