import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'

/** Field values the broker writes by hand: visible ASCII, spaces and tabs (RFC 9110 §5.5). */
const SAFE_VALUE = /^[\t\x20-\x7e]*$/

export function isSafeHeaderValue(value: string): boolean {
  return SAFE_VALUE.test(value)
}

/**
 * An HTTP/1.1 response head written by hand, for a socket Node's server has handed over (an
 * Upgrade request has no ServerResponse). Names come from the broker; a value that is not
 * safe to write throws (nothing is written).
 */
export function responseHead(status: number, headers: Record<string, string>): string {
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`
  for (const [name, value] of Object.entries(headers)) {
    if (!isSafeHeaderValue(value)) throw new Error(`unsafe value for header ${name}`)
    head += `${name}: ${value}\r\n`
  }
  return `${head}\r\n`
}

/** A whole answer, then the connection closes (the client's request is not read further). */
export function endWithResponse(
  socket: Duplex,
  status: number,
  headers: Record<string, string>,
  body: string,
): void {
  if (socket.destroyed) return
  const head = responseHead(status, {
    ...headers,
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
  })
  socket.end(head + body)
}
