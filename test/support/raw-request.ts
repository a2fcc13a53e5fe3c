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

/** What `rawExchange` read: the first answer's status and headers, and everything after them. */
export interface RawExchangeAnswer extends RawAnswer {
  /** Everything the server sent, as it sent it. */
  text: string
}

/**
 * Bytes written to `base` exactly as given (pipelined requests, repeated or malformed header
 * lines), and everything the server sent once it closed the connection; rejects when it has not
 * closed within `timeoutMs`.
 */
export async function rawExchange(
  base: string,
  bytes: string,
  timeoutMs = 5000,
): Promise<RawExchangeAnswer> {
  const connection = rawConnection(base, bytes)
  let timer: NodeJS.Timeout | undefined
  const closedInTime = await Promise.race([
    connection.closed.then(() => true),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs)
    }),
  ])
  clearTimeout(timer)
  if (!closedInTime) {
    connection.leave()
    throw new Error(`the server did not close the connection within ${timeoutMs} ms`)
  }
  // Read as bytes (latin1); the answer's text is UTF-8.
  const text = Buffer.from(await connection.received(0), 'latin1').toString('utf8')
  const [head = '', ...rest] = text.split('\r\n\r\n')
  const [statusLine = '', ...lines] = head.split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  return {
    status: Number(statusLine.split(' ')[1]),
    headers,
    body: rest.join('\r\n\r\n'),
    text,
  }
}

export interface RawConnection {
  socket: Socket
  /** Writes more bytes (a body's next piece); ignored once the connection is closed. */
  write(bytes: string): void
  /** Everything the server sent, once it closed the connection or `ms` passed. */
  received(ms?: number): Promise<string>
  /** The status code of the first answer, once its status line arrived (0: closed without one). */
  status(): Promise<number>
  /** Closes the connection at once, whatever it still had to read: a browser going away. */
  leave(): void
  closed: Promise<void>
}

/**
 * A connection to `base` that has written `head` (one or more requests, exactly as given) and
 * stays open, reading everything: for clients that send slowly, never finish, hold their
 * connection, pipeline, or leave.
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
    leave() {
      socket.destroy()
    },
  }
}
