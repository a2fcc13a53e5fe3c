/**
 * An RFC 7009 revocation endpoint in its own process (started by revocation-endpoint.ts), so
 * the work of answering thousands of revocations never runs on the broker's event loop that
 * a test measures. It answers every revocation 200 after `REVOCATION_DELAY_MS` (RFC 7009 §2.2:
 * an invalid or unknown token also gets 200) and counts total and concurrent requests.
 *
 *   POST /revoke   the endpoint
 *   GET  /stats    {"total","peak","inFlight"} since the last reset
 *   GET  /tokens   the tokens revoked since the last reset, in the order the answers went out
 *   POST /reset    zeroes the counters
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

const delayMs = Number(process.env.REVOCATION_DELAY_MS ?? '0')
let total = 0
let inFlight = 0
let peak = 0
let tokens: string[] = []

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' })
    return res.end(JSON.stringify({ total, peak, inFlight }))
  }
  if (req.method === 'GET' && req.url === '/tokens') {
    res.writeHead(200, { 'content-type': 'application/json' })
    return res.end(JSON.stringify(tokens))
  }
  if (req.method === 'POST' && req.url === '/reset') {
    total = 0
    peak = 0
    tokens = []
    res.writeHead(204)
    return res.end()
  }
  if (req.method !== 'POST' || req.url !== '/revoke') {
    res.writeHead(404)
    return res.end()
  }
  inFlight++
  peak = Math.max(peak, inFlight)
  const chunks: Buffer[] = []
  req.on('data', (chunk: Buffer) => chunks.push(chunk))
  req.on('end', () => {
    const token = new URLSearchParams(Buffer.concat(chunks).toString()).get('token')
    setTimeout(() => {
      if (token) tokens.push(token)
      total++
      inFlight--
      res.writeHead(200)
      res.end()
    }, delayMs)
  })
})

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo
  process.stdout.write(`${JSON.stringify({ port })}\n`)
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
