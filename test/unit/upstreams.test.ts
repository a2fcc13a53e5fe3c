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

  it.each(['/api/orders/@evil.example', '/api/orders/evil.example:443'])(
    'keeps the configured host for %s',
    (path) => {
      expect(table.resolve(path, '')?.target.host).toBe('orders.internal')
    },
  )
})
