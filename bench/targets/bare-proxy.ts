/**
 * (a) The baseline: a bare node:http reverse proxy. Forwards method, path and headers
 * (less hop-by-hop ones) to the upstream over a keep-alive agent, adds a fixed
 * Authorization header, streams the answer back. No session, no checks.
 */
import http from 'node:http'
import { serveOnLoopback, settings } from '../lib/child.js'

const { upstreamUrl } = settings<{ upstreamUrl: string }>()
const upstream = new URL(upstreamUrl)
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 })
const AUTHORIZATION = `Bearer bare-proxy-fixed-token-${'x'.repeat(32)}`
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'host'])

const server = http.createServer((req, res) => {
  const headers: http.OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(req.headers)) {
    if (!HOP_BY_HOP.has(name)) headers[name] = value
  }
  headers.authorization = AUTHORIZATION
  const proxied = http.request(
    {
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers,
      agent,
    },
    (answer) => {
      const out: http.OutgoingHttpHeaders = {}
      for (const [name, value] of Object.entries(answer.headers)) {
        if (!HOP_BY_HOP.has(name)) out[name] = value
      }
      res.writeHead(answer.statusCode ?? 502, out)
      answer.pipe(res)
    },
  )
  proxied.on('error', () => {
    if (!res.headersSent) res.writeHead(502)
    res.end()
  })
  req.pipe(proxied)
})
server.keepAliveTimeout = 120_000

serveOnLoopback(server, () => agent.destroy())
