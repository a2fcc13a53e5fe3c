import { BlockList, isIP } from 'node:net'
import type { Context } from 'hono'

/**
 * The proxies (CIDR ranges) whose `X-Forwarded-For` the broker believes. Build it once from
 * configuration with `trustedProxies(...)`; an empty list trusts no one, so the client address
 * is always the TCP peer.
 */
export interface TrustedProxies {
  has(address: string): boolean
}

/** `10.0.0.0/8`, `192.168.1.7`, `::1`, `fd00::/8`: an address with an optional prefix length. */
export function parseCidr(
  value: string,
): { address: string; prefix: number; family: 4 | 6 } | null {
  const [address = '', bits, ...rest] = value.split('/')
  const family = isIP(address)
  if (rest.length > 0 || (family !== 4 && family !== 6)) return null
  const max = family === 4 ? 32 : 128
  if (bits !== undefined && !/^\d{1,3}$/.test(bits)) return null
  const prefix = bits === undefined ? max : Number(bits)
  return prefix <= max ? { address, prefix, family } : null
}

export function trustedProxies(cidrs: readonly string[]): TrustedProxies {
  const list = new BlockList()
  for (const cidr of cidrs) {
    const parsed = parseCidr(cidr)
    if (!parsed) throw new Error(`not a CIDR range: ${cidr}`)
    list.addSubnet(parsed.address, parsed.prefix, parsed.family === 4 ? 'ipv4' : 'ipv6')
  }
  return {
    has(address) {
      const family = isIP(address)
      if (family === 0 || cidrs.length === 0) return false
      return list.check(address, family === 4 ? 'ipv4' : 'ipv6')
    },
  }
}

/** `::ffff:192.0.2.1` (an IPv4 peer on a dual-stack socket) is written as `192.0.2.1`. */
function normalise(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  return mapped?.[1] ?? address
}

/** The TCP peer of this request (@hono/node-server's bindings), or undefined without a socket. */
function peerAddress(c: Context): string | undefined {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined
  const address = env?.incoming?.socket?.remoteAddress
  return address ? normalise(address) : undefined
}

/** Whether the TCP peer is one of the configured proxies (so its forwarding headers may be read). */
export function isTrustedPeer(c: Context, trusted: TrustedProxies): boolean {
  const peer = peerAddress(c)
  return peer !== undefined && trusted.has(peer)
}

/**
 * The client's address. Trust boundary: `X-Forwarded-For` is read only when the TCP peer is a
 * trusted proxy, and then from the right, skipping trusted hops: the first untrusted address is
 * the client (anything left of it was written by the client and may be forged). `X-Real-IP`
 * and `Forwarded` are never read. `unknown` without a socket (in-process requests).
 */
export function clientAddress(c: Context, trusted: TrustedProxies): string {
  const peer = peerAddress(c)
  if (peer === undefined) return 'unknown'
  if (!trusted.has(peer)) return peer
  const hops = (c.req.header('x-forwarded-for') ?? '')
    .split(',')
    .map((hop) => normalise(hop.trim()))
    .filter(Boolean)
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i] as string
    if (isIP(hop) === 0) return peer // a garbled chain: fall back to the proxy itself
    if (!trusted.has(hop)) return hop
  }
  return hops[0] ?? peer
}
