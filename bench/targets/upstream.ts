/**
 * The upstream API every target forwards to: a fixed small JSON body. It answers 401
 * when no bearer token arrives, so a 200 counted by the load generator proves the
 * proxy in front attached one. `GET /__bench/bearer-length` (not proxied: no target
 * forwards that path) gives the length of the longest Authorization header answered so
 * far, so the bare proxies can attach a fixed one as long as the broker's real token.
 */
import { createServer } from 'node:http'
import { serveOnLoopback } from '../lib/child.js'
import { BEARER_LENGTH_PATH, UPSTREAM_BODY } from './upstream-body.js'

const BODY = Buffer.from(UPSTREAM_BODY)
const REFUSED = Buffer.from('{"error":"no bearer token"}')
let longestBearer = 0

const server = createServer((req, res) => {
  if (req.url === BEARER_LENGTH_PATH) {
    res.end(String(longestBearer))
    return
  }
  const authorization = req.headers.authorization
  const ok = authorization?.startsWith('Bearer ') && authorization.length > 20
  if (ok && authorization !== undefined && authorization.length > longestBearer) {
    longestBearer = authorization.length
  }
  res.writeHead(ok ? 200 : 401, {
    'content-type': 'application/json',
    'content-length': ok ? BODY.length : REFUSED.length,
  })
  res.end(ok ? BODY : REFUSED)
})
// The proxies keep their upstream connections between targets: do not drop them early.
server.keepAliveTimeout = 120_000

serveOnLoopback(server)
