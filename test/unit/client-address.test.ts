import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import {
  addressBucket,
  clientAddress,
  isTrustedPeer,
  parseCidr,
  trustedProxies,
} from '../../src/lib/client-address.js'

/** Asks a one-route app what it makes of a request from `peer` with these headers. */
async function seen(
  peer: string | undefined,
  trusted: string[],
  headers: Record<string, string> = {},
) {
  const proxies = trustedProxies(trusted)
  const app = new Hono()
  app.get('/', (c) =>
    c.json({ client: clientAddress(c, proxies), trusted: isTrustedPeer(c, proxies) }),
  )
  const env = peer ? { incoming: { socket: { remoteAddress: peer } } } : undefined
  const response = await app.request('/', { headers }, env)
  return (await response.json()) as { client: string; trusted: boolean }
}

describe('clientAddress', () => {
  it('is the TCP peer when no proxy is trusted, whatever X-Forwarded-For says', async () => {
    expect(await seen('203.0.113.9', [], { 'x-forwarded-for': '1.2.3.4' })).toEqual({
      client: '203.0.113.9',
      trusted: false,
    })
  })

  it('ignores X-Real-IP and Forwarded even from a trusted proxy', async () => {
    const headers = { 'x-real-ip': '1.2.3.4', forwarded: 'for=1.2.3.4' }
    expect((await seen('10.0.0.5', ['10.0.0.0/8'], headers)).client).toBe('10.0.0.5')
  })

  it('takes the address a trusted proxy appended', async () => {
    const result = await seen('10.0.0.5', ['10.0.0.0/8'], { 'x-forwarded-for': '198.51.100.7' })
    expect(result).toEqual({ client: '198.51.100.7', trusted: true })
  })

  it('skips trusted hops from the right and ignores what the client wrote on the left', async () => {
    const headers = { 'x-forwarded-for': '6.6.6.6, 198.51.100.7, 10.1.1.1' }
    expect((await seen('10.0.0.5', ['10.0.0.0/8'], headers)).client).toBe('198.51.100.7')
  })

  it('writes IPv4-mapped IPv6 peers as IPv4 and matches them against IPv4 ranges', async () => {
    expect(
      await seen('::ffff:10.0.0.5', ['10.0.0.0/8'], { 'x-forwarded-for': '2001:db8::1' }),
    ).toEqual({
      client: '2001:db8::1',
      trusted: true,
    })
  })

  it('falls back to the proxy when the chain holds garbage', async () => {
    expect((await seen('10.0.0.5', ['10.0.0.0/8'], { 'x-forwarded-for': 'nonsense' })).client).toBe(
      '10.0.0.5',
    )
  })

  it('answers unknown without a socket', async () => {
    expect((await seen(undefined, ['10.0.0.0/8'])).client).toBe('unknown')
  })
})

describe('parseCidr', () => {
  it.each(['10.0.0.0/8', '192.168.1.7', '::1', 'fd00::/8', '0.0.0.0/0'])('accepts %s', (value) => {
    expect(parseCidr(value)).not.toBeNull()
  })

  it.each(['10.0.0.0/33', 'fd00::/129', 'example.com', '10.0.0.0/8/1', '10.0.0/8', '10.0.0.0/x'])(
    'refuses %s',
    (value) => {
      expect(parseCidr(value)).toBeNull()
    },
  )
})

describe('addressBucket (what the per-address connection cap counts)', () => {
  it.each([
    ['203.0.113.9', '203.0.113.9'],
    ['::ffff:203.0.113.9', '203.0.113.9'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
    ['2001:DB8:0001:0002::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
    ['2001:db8:a:b::192.0.2.1', '2001:db8:a:b::/64'],
  ])('counts %s as %s', (peer, bucket) => {
    expect(addressBucket(peer)).toBe(bucket)
  })
})
