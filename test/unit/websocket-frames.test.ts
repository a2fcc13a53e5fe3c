import { once } from 'node:events'
import { connect, createServer, type Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { frameHeader, parseFrame } from '../../demo/api/websocket.js'
import { closeFrame, FrameBoundary } from '../../src/proxy/websocket-frames.js'
import { WebSocketTunnel } from '../../src/proxy/websocket-tunnel.js'
import { until } from '../support/until.js'

function frame(length: number, masked = false): Buffer {
  const header = frameHeader(0x2, length)
  if (!masked) return Buffer.concat([header, Buffer.alloc(length, 7)])
  header[1] = (header[1] as number) | 0x80
  return Buffer.concat([header, Buffer.from([1, 2, 3, 4]), Buffer.alloc(length, 7)])
}

/** Every frame in `bytes`, and what is left over. */
function framesOf(bytes: Buffer) {
  const frames = []
  let rest = bytes
  for (let f = parseFrame(rest); f; f = parseFrame(rest)) {
    frames.push(f)
    rest = rest.subarray(f.size)
  }
  return { frames, rest }
}

describe('close frames', () => {
  it('toward the browser: unmasked, code 4401, reason "session ended"', () => {
    const bytes = closeFrame('session_ended', false)
    expect(bytes.subarray(0, 4)).toEqual(Buffer.from([0x88, 15, 0x11, 0x31]))
    expect(bytes.subarray(4).toString()).toBe('session ended')
  })

  it('toward the upstream: masked with a fresh key, the same payload once unmasked', () => {
    const first = closeFrame('going_away', true)
    const parsed = parseFrame(first)
    expect(parsed?.masked).toBe(true)
    expect(parsed?.opcode).toBe(0x8)
    expect(parsed?.payload.readUInt16BE(0)).toBe(1001)
    expect(parsed?.payload.subarray(2).toString()).toBe('going away')
    expect(closeFrame('going_away', true).subarray(2, 6)).not.toEqual(first.subarray(2, 6))
  })
})

describe('FrameBoundary', () => {
  const stream = Buffer.concat([
    frame(0),
    frame(5, true),
    frame(200),
    frame(70_000, true),
    frame(1),
  ])
  const ends = [2, 2 + 11, 2 + 11 + 204, 2 + 11 + 204 + 70_014, stream.length]

  it.each([1, 2, 3, 7, 100, 4096, stream.length])(
    'knows each frame end whatever the chunks (%i bytes each)',
    (size) => {
      const boundary = new FrameBoundary()
      const seen: number[] = []
      for (let at = 0; at < stream.length; at += size) {
        const chunk = stream.subarray(at, at + size)
        let used = 0
        while (used < chunk.length) {
          used +=
            boundary.advance(chunk.subarray(used), true) ||
            boundary.advance(chunk.subarray(used, used + 1))
          if (boundary.atBoundary) seen.push(at + used)
        }
      }
      expect([...new Set(seen)]).toEqual(ends)
    },
  )

  it('reads only up to the end of the frame in progress when asked to stop there', () => {
    const boundary = new FrameBoundary()
    const two = Buffer.concat([frame(10), frame(10)])
    expect(boundary.advance(two.subarray(0, 5))).toBe(5)
    expect(boundary.atBoundary).toBe(false)
    expect(boundary.advance(two.subarray(5), true)).toBe(7)
    expect(boundary.atBoundary).toBe(true)
    expect(boundary.advance(two.subarray(12), true)).toBe(0)
  })
})

/** Two connected sockets: what one writes, the other reads. */
async function socketPair(): Promise<[Socket, Socket]> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  const accepted = once(server, 'connection')
  const client = connect(port, '127.0.0.1')
  const [serverSide] = (await accepted) as [Socket]
  server.close()
  return [client, serverSide]
}

function collect(socket: Socket): { bytes: () => Buffer; ended: Promise<unknown> } {
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  return { bytes: () => Buffer.concat(chunks), ended: once(socket, 'close') }
}

describe('WebSocketTunnel.end', () => {
  it('finishes the frame the upstream is in the middle of, then puts its close frame after it', async () => {
    const [browser, browserSide] = await socketPair()
    const [upstreamSide, upstream] = await socketPair()
    let closed = 0
    const tunnel = new WebSocketTunnel(browserSide, upstreamSide, () => closed++)
    tunnel.start(Buffer.alloc(0), Buffer.alloc(0))
    const toBrowser = collect(browser)
    const toUpstream = collect(upstream)
    const big = frame(1000)
    upstream.write(big.subarray(0, 500))
    await new Promise((resolve) => setTimeout(resolve, 50))
    tunnel.end('session_ended')
    upstream.write(Buffer.concat([big.subarray(500), frame(3)]))
    await toBrowser.ended
    const { frames, rest } = framesOf(toBrowser.bytes())
    expect(rest.length).toBe(0)
    expect(frames.map((f) => [f.opcode, f.masked, f.payload.length])).toEqual([
      [0x2, false, 1000],
      [0x8, false, 15],
    ])
    expect(frames[1]?.payload.readUInt16BE(0)).toBe(4401)
    await toUpstream.ended
    const upstreamGot = framesOf(toUpstream.bytes())
    expect(upstreamGot.frames.map((f) => [f.opcode, f.masked])).toEqual([[0x8, true]])
    expect(upstreamGot.frames[0]?.payload.readUInt16BE(0)).toBe(4401)
    await until(() => closed === 1, 'the tunnel to report its end')
  })

  it('ends the upstream connection without a close frame when the browser is in the middle of one', async () => {
    const [browser, browserSide] = await socketPair()
    const [upstreamSide, upstream] = await socketPair()
    const tunnel = new WebSocketTunnel(browserSide, upstreamSide, () => {})
    tunnel.start(Buffer.alloc(0), Buffer.alloc(0))
    const toUpstream = collect(upstream)
    const toBrowser = collect(browser)
    browser.write(frame(100, true).subarray(0, 50))
    await new Promise((resolve) => setTimeout(resolve, 50))
    tunnel.end('session_ended')
    await toUpstream.ended
    expect(toUpstream.bytes().length).toBe(50)
    await toBrowser.ended
    expect(framesOf(toBrowser.bytes()).frames.map((f) => f.opcode)).toEqual([0x8])
  })
})
