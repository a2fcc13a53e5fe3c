import { describe, expect, it } from 'vitest'
import { CookieJar, parseSetCookie } from './cookie-jar.js'

const NOW = 1_800_000_000_000
const at = (url: string) => new URL(url)

describe('cookie jar', () => {
  it('keeps cookies host-only and port-insensitive', () => {
    const jar = new CookieJar()
    jar.store(at('http://127.0.0.1:3000/auth/callback'), ['a=1; Path=/'], NOW)
    expect(jar.header(at('http://127.0.0.1:4000/x'), 'all')).toBe('a=1')
    expect(jar.header(at('http://localhost:3000/x'), 'all')).toBe('')
  })

  it('defaults Path to the directory of the request path', () => {
    const jar = new CookieJar()
    jar.store(at('http://127.0.0.1/auth/callback'), ['a=1'], NOW)
    expect(jar.matching(at('http://127.0.0.1/auth/x'), 'all', NOW)).toHaveLength(1)
    expect(jar.matching(at('http://127.0.0.1/authx'), 'all', NOW)).toHaveLength(0)
  })

  it.each(['a=; Path=/; Max-Age=0', 'a=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT'])(
    'deletes a cookie with %s',
    (deletion) => {
      const jar = new CookieJar()
      jar.store(at('http://127.0.0.1/'), ['a=1; Path=/'], NOW)
      jar.store(at('http://127.0.0.1/'), [deletion], NOW)
      expect(jar.all(NOW)).toEqual([])
    },
  )

  it('keeps the attributes for assertions', () => {
    const line = '__Host-s=v; Path=/; Secure; HttpOnly; SameSite=Strict'
    const cookie = parseSetCookie(line, at('http://localhost:3000/'), NOW)
    expect(cookie).toMatchObject({
      secure: true,
      httpOnly: true,
      sameSite: 'Strict',
      hostOnly: true,
    })
  })

  it.each([
    ['__Host- without Secure', '__Host-s=v; Path=/', 'http://localhost/'],
    ['__Host- with a Domain', '__Host-s=v; Path=/; Secure; Domain=localhost', 'http://localhost/'],
    ['__Host- without Path=/', '__Host-s=v; Secure', 'http://localhost/a/b'],
    ['Secure over http on a public name', 's=v; Secure', 'http://broker.test/'],
    ['SameSite=None without Secure', 's=v; SameSite=None', 'http://localhost/'],
    ['a foreign Domain', 's=v; Domain=example.com', 'http://localhost/'],
  ])('rejects %s', (_name, line, url) => {
    expect(parseSetCookie(line, at(url), NOW)).toBeUndefined()
  })

  it('sends Strict cookies only same-site, Lax also on cross-site top-level GETs', () => {
    const jar = new CookieJar()
    const lines = ['s=1; Path=/; SameSite=Strict', 'l=1; Path=/; SameSite=Lax', 'd=1; Path=/']
    jar.store(at('http://127.0.0.1/'), lines, NOW)
    const url = at('http://127.0.0.1/')
    expect(jar.matching(url, 'all', NOW).map((c) => c.name)).toEqual(['s', 'l', 'd'])
    expect(jar.matching(url, 'lax', NOW).map((c) => c.name)).toEqual(['l', 'd'])
    expect(jar.matching(url, 'none-only', NOW)).toEqual([])
  })
})
