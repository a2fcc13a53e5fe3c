/**
 * (a) For reference: a bare node:http reverse proxy. It gets the broker's request and
 * forwards method, path and headers (less hop-by-hop ones and the cookie) to the upstream
 * over a keep-alive agent, with a fixed Authorization header as long as the broker's real
 * bearer, and streams the answer back. No session, no checks.
 */
import http from 'node:http'
import { serveOnLoopback, settings } from '../lib/child.js'
import { fixedBearer, HOP_BY_HOP, NOT_FORWARDED } from './bare-forwarding.js'

const { upstreamUrl, bearerLength } = settings<{ upstreamUrl: string; bearerLength: number }>()
const upstream = new URL(upstreamUrl)
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 })
const AUTHORIZATION = fixedBearer('bare-proxy', bearerLength)

const server = http.createServer((req, res) => {
  const headers: http.OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(req.headers)) {
    if (!NOT_FORWARDED.has(name)) headers[name] = value
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
