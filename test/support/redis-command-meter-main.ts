/**
 * A TCP proxy in front of Redis, in its own process (started by redis-command-meter.ts), that
 * parses RESP in both directions to know how many commands a client has sent without a reply
 * yet: the measure of "fires N commands at once". Replies are held for REDIS_LATENCY_MS, as a
 * Redis that far away would, so a client that sends everything at once shows it. Only for
 * connections that are not subscribed (pub/sub pushes have no request).
 *
 *   GET /stats on the stats port: {"commands","peakInFlight","inFlight"}
 */
import { createServer as createHttpServer } from 'node:http'
import { type AddressInfo, connect, createServer, type Server } from 'node:net'

const target = new URL(process.env.REDIS_URL ?? '')
const latencyMs = Number(process.env.REDIS_LATENCY_MS ?? '0')
const CR = 0x0d

/** The end of the RESP2 value starting at `at`, or -1 while it is incomplete. */
function valueEnd(buffer: Buffer, at: number): number {
  if (at >= buffer.length) return -1
  const lineEnd = buffer.indexOf(CR, at)
  if (lineEnd < 0 || lineEnd + 1 >= buffer.length) return -1
  const next = lineEnd + 2
  const type = String.fromCharCode(buffer[at] as number)
  if (type === '$') {
    const length = Number(buffer.toString('latin1', at + 1, lineEnd))
    if (length < 0) return next
    return next + length + 2 <= buffer.length ? next + length + 2 : -1
  }
  if (type === '*') {
    const count = Number(buffer.toString('latin1', at + 1, lineEnd))
    let end = next
    for (let i = 0; i < count; i++) {
      end = valueEnd(buffer, end)
      if (end < 0) return -1
    }
    return end
  }
  // Simple string, error, integer (or an inline command): one line.
  return next
}

/** Counts the complete top-level RESP values of one direction of one connection. */
function respCounter(): (chunk: Buffer) => number {
  let pending: Buffer = Buffer.alloc(0)
  return (chunk) => {
    pending = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk
    let at = 0
    let count = 0
    for (let end = valueEnd(pending, at); end >= 0; end = valueEnd(pending, at)) {
      count++
      at = end
    }
    pending = pending.subarray(at)
    return count
  }
}

let commands = 0
let inFlight = 0
let peakInFlight = 0

const proxy: Server = createServer((client) => {
  const upstream = connect(Number(target.port), target.hostname)
  const sent = respCounter()
  const replied = respCounter()
  let open = 0
  client.on('data', (chunk: Buffer) => {
    const n = sent(chunk)
    commands += n
    open += n
    inFlight += n
    peakInFlight = Math.max(peakInFlight, inFlight)
    upstream.write(chunk)
  })
  upstream.on('data', (chunk: Buffer) => {
    // Same delay for every chunk: timers of one duration fire in order, so replies stay in order.
    setTimeout(() => {
      const n = replied(chunk)
      open -= n
      inFlight -= n
      if (!client.destroyed) client.write(chunk)
    }, latencyMs)
  })
  const close = () => {
    inFlight -= open
    open = 0
    client.destroy()
    upstream.destroy()
  }
  client.on('close', close).on('error', close)
  upstream.on('close', close).on('error', close)
})

const stats = createHttpServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(JSON.stringify({ commands, peakInFlight, inFlight }))
})

proxy.listen(0, '127.0.0.1', () => {
  stats.listen(0, '127.0.0.1', () => {
    const port = (proxy.address() as AddressInfo).port
    const statsPort = (stats.address() as AddressInfo).port
    process.stdout.write(`${JSON.stringify({ port, statsPort })}\n`)
  })
})
process.on('SIGTERM', () => process.exit(0))
