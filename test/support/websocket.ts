import type { IncomingHttpHeaders, Server } from 'node:http'
import { WebSocket } from 'undici'
import { acceptWebSocket, type ServerSocket } from '../../demo/api/websocket.js'

export interface WebSocketUpstream {
  /** Every handshake that reached the upstream, as it arrived. */
  handshakes: Array<{ url: string; headers: IncomingHttpHeaders }>
  /** The accepted sockets, in order. */
  sockets: ServerSocket[]
  /** Answers the next handshakes with this status instead of 101, while set. */
  refuseWith: number | undefined
  /** Stops serving WebSockets on the server. */
  stop(): void
}

/**
 * Serves WebSockets on an upstream's server (the echo upstream): records each handshake and
 * answers each text message with `echo:<text>`.
 */
export function serveWebSockets(server: Server): WebSocketUpstream {
  const upstream: WebSocketUpstream = {
    handshakes: [],
    sockets: [],
    refuseWith: undefined,
    stop: () => server.off('upgrade', onUpgrade),
  }
  const onUpgrade = (
    req: import('node:http').IncomingMessage,
    socket: import('node:stream').Duplex,
    head: Buffer,
  ) => {
    upstream.handshakes.push({ url: req.url ?? '', headers: req.headers })
    if (upstream.refuseWith !== undefined) {
      socket.end(`HTTP/1.1 ${upstream.refuseWith} Refused\r\ncontent-length: 0\r\n\r\n`)
      return
    }
    const requested = req.headers['sec-websocket-protocol']?.split(',')[0]
    const accepted = acceptWebSocket(req, socket, head, {
      ...(requested ? { 'sec-websocket-protocol': requested } : {}),
      // What the broker must not pass on to the browser.
      'set-cookie': 'upstream=1; Path=/',
      'x-upstream-internal': 'secret',
    })
    accepted.onMessage((text) => accepted.send(`echo:${text}`))
    upstream.sockets.push(accepted)
  }
  server.on('upgrade', onUpgrade)
  return upstream
}

export interface BrowserSocket {
  socket: WebSocket
  messages: string[]
  /** Resolves once open; rejects when the handshake failed. */
  opened: Promise<void>
  /** The close event: its code, and when it arrived (performance.now()). */
  closed: Promise<{ code: number; reason: string; at: number }>
  /** The next message, within `ms`. */
  next(ms?: number): Promise<string>
}

/** A WebSocket client as a browser page on `origin` opens one (undici's client, headers set). */
export function openWebSocket(
  url: string,
  headers: Record<string, string>,
  protocols: string[] = [],
): BrowserSocket {
  const socket = new WebSocket(url.replace(/^http/, 'ws'), { headers, protocols })
  const messages: string[] = []
  const waiting: Array<(text: string) => void> = []
  socket.addEventListener('message', (event) => {
    const text = String(event.data)
    messages.push(text)
    waiting.shift()?.(text)
  })
  const opened = new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve())
    socket.addEventListener('close', () => reject(new Error('closed before open')))
  })
  opened.catch(() => {})
  const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) =>
    socket.addEventListener('close', (event) =>
      resolve({ code: event.code, reason: event.reason, at: performance.now() }),
    ),
  )
  return {
    socket,
    messages,
    opened,
    closed,
    next(ms = 3000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no message in time')), ms)
        waiting.push((text) => {
          clearTimeout(timer)
          resolve(text)
        })
      })
    },
  }
}
