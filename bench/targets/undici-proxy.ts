/**
 * (a') The real limit for a Node hop: a bare reverse proxy on undici, as the broker forwards
 * (an Agent's kept-alive pool, the answer written straight into the response by a dispatch
 * handler, upstream paused while the socket is full). It gets the broker's request (cookie
 * and CSRF header included) and forwards method, path and headers, less hop-by-hop ones and
 * the cookie (as a BFF must), with a fixed Authorization header as long as the broker's real
 * bearer. No session, no checks.
 */
import http from 'node:http'
import { Agent, type Dispatcher } from 'undici'
import { serveOnLoopback, settings } from '../lib/child.js'
import { fixedBearer, HOP_BY_HOP, NOT_FORWARDED } from './bare-forwarding.js'

const { upstreamUrl, bearerLength } = settings<{ upstreamUrl: string; bearerLength: number }>()
const origin = new URL(upstreamUrl).origin
const agent = new Agent({ connections: 256, keepAliveTimeout: 4000 })
const AUTHORIZATION = fixedBearer('undici-proxy', bearerLength)

const server = http.createServer((req, res) => {
  const headers: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !NOT_FORWARDED.has(name)) headers[name] = value
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
