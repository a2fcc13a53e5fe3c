import { describe, expect, it } from 'vitest'
import { BffError } from '../../src/errors/bff-error.js'
import { UpstreamTable } from '../../src/proxy/upstreams.js'

const table = new UpstreamTable([
  { prefix: '/api/orders', upstream: 'https://orders.internal/v1' },
  { prefix: '/api/orders/admin', upstream: 'https://admin.internal/' },
  { prefix: '/api/users', upstream: 'http://users.internal:8080' },
])

describe('UpstreamTable', () => {
  it.each([
    ['/api/orders', '', 'https://orders.internal/v1'],
    ['/api/orders/42', '?x=1', 'https://orders.internal/v1/42?x=1'],
    ['/api/orders/admin/keys', '', 'https://admin.internal/keys'],
    ['/api/users/me', '', 'http://users.internal:8080/me'],
    ['/api/orders/a%20b', '', 'https://orders.internal/v1/a%20b'],
  ])('maps %s%s to %s', (path, search, expected) => {
    expect(table.resolve(path, search)?.target.href).toBe(expected)
  })

  it('returns null for an unknown prefix', () => {
    expect(table.resolve('/api/unknown/x', '')).toBeNull()
    expect(table.resolve('/api/ordersx', '')).toBeNull()
  })

  it.each([
    '/api/orders/..%2f..%2fadmin',
    '/api/orders/%2e%2e/secret',
    '/api/orders/%2E%2E',
    '/api/orders/%2e',
    '/api/orders/%252e%252e/x',
    '/api/orders/a%2fb',
    '/api/orders/a%5cb',
    '/api/orders//evil.example/x',
    '/api/orders/%00',
    '/api/orders/%E0%A4%A',
  ])('refuses the escape attempt %s', (path) => {
    expect(() => table.resolve(path, '')).toThrow(BffError)
  })

  it.each([
    ['/api/orders/a b', ''],
    ['/api/orders/caf\u00e9', ''],
    ['/api/orders/x', '?a=b c'],
    ['/api/orders/x', 'a=1'],
  ])('refuses %s%s: not what a URL parser leaves (unencoded or malformed)', (path, search) => {
    expect(() => table.resolve(path, search)).toThrow(BffError)
  })

  it('sends to the configured host, port and scheme as plain request options', () => {
    const v6 = new UpstreamTable([{ prefix: '/api/v6', upstream: 'https://[::1]:8443/base/' }])
    const target = v6.resolve('/api/v6/x', '?q=1')?.target
    expect(target).toMatchObject({ secure: true, hostname: '::1', port: 8443, path: '/base/x?q=1' })
    expect(table.resolve('/api/users/me', '')?.target).toMatchObject({
      secure: false,
      hostname: 'users.internal',
      port: 8080,
      path: '/me',
    })
    expect(table.resolve('/api/orders', '')?.target).toMatchObject({ port: 443, path: '/v1' })
  })

  it.each(['/api/orders/@evil.example', '/api/orders/evil.example:443'])(
    'keeps the configured host for %s',
    (path) => {
      expect(table.resolve(path, '')?.target.host).toBe('orders.internal')
    },
  )
})
