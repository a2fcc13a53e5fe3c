import { createHash } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'

/** RFC 6455 §1.3: appended to the client's key before hashing. */
const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

export interface ServerSocket {
  /** Sends one text message (one unmasked frame). */
  send(text: string): void
  /** Sends a close frame and ends the connection. */
  close(code: number, reason?: string): void
  /** Each text message the client sends. */
  onMessage(listener: (text: string) => void): void
  /** Resolves when the connection is gone, with the close code the client sent, if any. */
  readonly closed: Promise<{ code: number | undefined }>
}

/**
 * The server side of a WebSocket, small enough for the demo API and test upstreams (not a
 * library: unfragmented frames, text messages, no extensions). Answers the handshake with
 * 101, echoes pings, answers a close frame with one and ends.
 */
export function acceptWebSocket(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  /** More headers on the 101 (tests: what a proxy must not pass on). */
  headers: Record<string, string> = {},
): ServerSocket {
  const key = req.headers['sec-websocket-key'] ?? ''
  const accept = createHash('sha1').update(`${key}${ACCEPT_GUID}`).digest('base64')
  const more = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`)
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\n${more.join('')}\r\n`,
  )
  socket.on('error', () => socket.destroy())
  // A server's socket stays half-open after the client's FIN (allowHalfOpen): finish it.
  socket.on('end', () => socket.end())
  const listeners: Array<(text: string) => void> = []
  let closeCode: number | undefined
  let buffered = Buffer.alloc(0)
  const closed = new Promise<{ code: number | undefined }>((resolve) =>
    socket.once('close', () => resolve({ code: closeCode })),
  )
  const write = (opcode: number, payload: Buffer) => {
    if (!socket.writable) return
    socket.write(Buffer.concat([frameHeader(opcode, payload.length), payload]))
  }
  const read = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk])
    for (let frame = parseFrame(buffered); frame; frame = parseFrame(buffered)) {
      buffered = buffered.subarray(frame.size)
      if (frame.opcode === 0x1) for (const listener of listeners) listener(frame.payload.toString())
      else if (frame.opcode === 0x9) write(0xa, frame.payload)
      else if (frame.opcode === 0x8) {
        closeCode = frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : undefined
        write(0x8, frame.payload.subarray(0, 2))
        socket.end()
      }
    }
  }
  socket.on('data', read)
  if (head.length > 0) read(head)
  return {
    send: (text) => write(0x1, Buffer.from(text)),
    close(code, reason = '') {
      const payload = Buffer.alloc(2 + Buffer.byteLength(reason))
      payload.writeUInt16BE(code, 0)
      payload.write(reason, 2)
      write(0x8, payload)
      socket.end()
    },
    onMessage: (listener) => listeners.push(listener),
    closed,
  }
}

/** An unmasked frame header (a server's frames are never masked, RFC 6455 §5.1). */
export function frameHeader(opcode: number, length: number): Buffer {
  if (length < 126) return Buffer.from([0x80 | opcode, length])
  if (length < 65536) {
    const header = Buffer.from([0x80 | opcode, 126, 0, 0])
    header.writeUInt16BE(length, 2)
    return header
  }
  const header = Buffer.alloc(10)
  header[0] = 0x80 | opcode
  header[1] = 127
  header.writeBigUInt64BE(BigInt(length), 2)
  return header
}

export interface Frame {
  fin: boolean
  opcode: number
  masked: boolean
  /** Unmasked. */
  payload: Buffer
  /** Bytes the frame took, header included. */
  size: number
}

/** The first complete frame in `bytes`, or undefined when more bytes are needed. */
export function parseFrame(bytes: Buffer): Frame | undefined {
  if (bytes.length < 2) return undefined
  const first = bytes[0] as number
  const second = bytes[1] as number
  const masked = (second & 0x80) !== 0
  let length = second & 0x7f
  let at = 2
  if (length === 126) {
    if (bytes.length < 4) return undefined
    length = bytes.readUInt16BE(2)
    at = 4
  } else if (length === 127) {
    if (bytes.length < 10) return undefined
    length = Number(bytes.readBigUInt64BE(2))
    at = 10
  }
  const mask = masked ? bytes.subarray(at, at + 4) : undefined
  if (masked) at += 4
  if (bytes.length < at + length) return undefined
  const payload = Buffer.from(bytes.subarray(at, at + length))
  if (mask) {
    for (let i = 0; i < payload.length; i++)
      payload[i] = (payload[i] as number) ^ (mask[i % 4] as number)
  }
  return { fin: (first & 0x80) !== 0, opcode: first & 0x0f, masked, payload, size: at + length }
}
