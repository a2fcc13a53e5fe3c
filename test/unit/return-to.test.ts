import { describe, expect, it } from 'vitest'
import { validateReturnTo } from '../../src/lib/return-to.js'

const origin = 'https://app.example'

describe('validateReturnTo', () => {
  it.each([
    ['/', '/'],
    ['/orders/42', '/orders/42'],
    ['/orders/42?tab=items#top', '/orders/42?tab=items#top'],
    ['/a/../b', '/b'],
  ])('accepts the same-origin path %s', (input, expected) => {
    expect(validateReturnTo(input, origin)).toBe(expected)
  })

  it('defaults to / when absent', () => {
    expect(validateReturnTo(undefined, origin)).toBe('/')
    expect(validateReturnTo('', origin)).toBe('/')
  })

  it.each([
    '//evil.example',
    'https://evil.example',
    'http://evil.example/path',
    '/\\evil.example',
    '\\\\evil.example',
    '/%2F%2Fevil.example',
    '/%2f%2fevil.example',
    '%2F%2Fevil.example',
    'javascript:alert(1)',
    'JavaScript:alert(1)',
    'data:text/html,x',
    '/path\nLocation: https://evil.example',
    '/\tevil',
    '/%09/evil.example',
    '/%0d%0aSet-Cookie:x=y',
    '/.//evil.example',
    'evil.example',
    '/%E0%A4%A',
    `/${'a'.repeat(3000)}`,
  ])('refuses %j', (input) => {
    expect(validateReturnTo(input, origin)).toBeNull()
  })
})
