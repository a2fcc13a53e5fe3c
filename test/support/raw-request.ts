import { type IncomingHttpHeaders, request } from 'node:http'
import { connect, type Socket } from 'node:net'

export interface RawAnswer {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

/**
 * One request with the target and headers exactly as given (fetch would normalise the path,
 * add headers of its own and refuse some we attack with).
 */
export function rawRequest(
  base: string,
  target: string,
  headers: Record<string, string>,
  method = 'GET',
  body?: string,
): Promise<RawAnswer> {
  const url = new URL(base)
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method, path: target, headers },
      (res) => {
        let text = ''
        res.on('data', (chunk) => {
          text += chunk
        })
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
        )
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

export interface RawConnection {
  socket: Socket
  /** Writes more bytes (a body's next piece); ignored once the connection is closed. */
  write(bytes: string): void
  /** Everything the server sent, once it closed the connection or `ms` passed. */
  received(ms?: number): Promise<string>
  /** The status code of the first answer, once its status line arrived (0: closed without one). */
  status(): Promise<number>
  closed: Promise<void>
}

/**
 * A connection to `base` that has written `head` (a request head, exactly as given) and stays
 * open: for clients that send slowly, never finish, or hold their connection.
 */
export function rawConnection(base: string, head: string): RawConnection {
  const url = new URL(base)
  const socket = connect({ host: url.hostname, port: Number(url.port) })
  socket.on('error', () => {})
  let text = ''
  const waiters: Array<() => void> = []
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1')
    for (const wake of waiters.splice(0)) wake()
  })
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  void closed.then(() => {
    for (const wake of waiters.splice(0)) wake()
  })
  socket.write(head)
  const statusOf = () => /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1]
  return {
    socket,
    closed,
    write(bytes) {
      if (!socket.destroyed) socket.write(bytes)
    },
    async received(ms = 5000) {
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, ms))])
      return text
    },
    async status() {
      while (statusOf() === undefined && !socket.destroyed) {
        await new Promise<void>((resolve) => waiters.push(resolve))
      }
      return Number(statusOf() ?? 0)
    },
  }
}
