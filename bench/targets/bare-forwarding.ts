/** What the bare proxies (undici, node:http) leave out, and the bearer they attach. */

/** Hop-by-hop headers (RFC 9110 §7.6.1) and Host: never copied from one hop to the next. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'host',
])

/** Request headers a bare proxy does not forward: hop-by-hop ones, and the browser's cookie. */
export const NOT_FORWARDED = new Set([...HOP_BY_HOP, 'cookie'])

/** A fixed `Bearer` Authorization value of exactly `length` characters (at least the prefix). */
export function fixedBearer(name: string, length: number): string {
  const prefix = `Bearer ${name}-fixed-token-`
  return prefix + 'x'.repeat(Math.max(32, length - prefix.length))
}
