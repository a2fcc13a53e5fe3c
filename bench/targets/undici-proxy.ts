/**
 * (a') The real limit for a Node hop: a bare reverse proxy on undici, as the broker forwards
 * (an Agent's kept-alive pool, the answer written straight into the response by a dispatch
 * handler, upstream paused while the socket is full). Forwards method, path and headers (less
 * hop-by-hop ones), adds a fixed Authorization header. No session, no checks.
 */
import http from 'node:http'
import { Agent, type Dispatcher } from 'undici'
import { serveOnLoopback, settings } from '../lib/child.js'

const { upstreamUrl } = settings<{ upstreamUrl: string }>()
const origin = new URL(upstreamUrl).origin
const agent = new Agent({ connections: 256, keepAliveTimeout: 4000 })
const AUTHORIZATION = `Bearer undici-proxy-fixed-token-${'x'.repeat(32)}`
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'host'])

const server = http.createServer((req, res) => {
  const headers: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value
  }
  headers.authorization = AUTHORIZATION
  const bodiless = req.method === 'GET' || req.method === 'HEAD'
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart() {},
    onResponseStart(_controller, status, answer) {
      const out: http.OutgoingHttpHeaders = {}
      for (const [name, value] of Object.entries(answer)) {
        if (!HOP_BY_HOP.has(name)) out[name] = value
      }
      res.writeHead(status, out)
    },
    onResponseData(controller, chunk) {
      if (!res.write(chunk)) {
        controller.pause()
        res.once('drain', () => controller.resume())
      }
    },
    onResponseEnd() {
      res.end()
    },
    onResponseError() {
      if (!res.headersSent) res.writeHead(502)
      res.end()
    },
  }
  agent.dispatch(
    {
      origin,
      path: req.url ?? '/',
      method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
      headers,
      body: bodiless ? null : req,
    },
    handler,
  )
})
server.keepAliveTimeout = 120_000

serveOnLoopback(server, () => void agent.destroy())
