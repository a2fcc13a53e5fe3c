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
export function normaliseAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  return mapped?.[1] ?? address
}

const normalise = normaliseAddress

/** The 8 groups of an IPv6 address as numbers (`::` expanded, a dotted IPv4 tail is 2 groups). */
function ipv6Groups(address: string): number[] {
  const [head = '', tail] = (address.split('%')[0] ?? '').split('::')
  const parts = (text: string | undefined) =>
    text ? text.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : []
  const left = parts(head)
  const right = parts(tail)
  const zeros = tail === undefined ? [] : Array(8 - left.length - right.length).fill('0')
  return [...left, ...zeros, ...right].map((g) => Number.parseInt(g, 16))
}

/**
 * What the per-address connection cap counts a TCP peer as: an IPv4 address itself, an IPv6
 * address by its /64. RFC 4291 §2.5.1 gives every interface a 64-bit id inside its /64 and ISPs
 * hand a customer at least a /64 (RFC 6177), so one attacker holds 2^64 addresses: counting
 * them one by one would not limit anything.
 */
export function addressBucket(peer: string): string {
  const address = normalise(peer)
  if (isIP(address) !== 6) return address
  const prefix = ipv6Groups(address)
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')
  return `${prefix}::/64`
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
