import { sealData } from 'iron-session'
import { describe, expect, it } from 'vitest'
import { parseOptions } from '../../src/config/parse-options.js'
import { BoundedCache } from '../../src/lib/bounded-cache.js'
import { randomId } from '../../src/lib/random.js'
import { SessionCookie } from '../../src/session/cookie.js'

const secret = `test-only-${'s'.repeat(32)}`
const config = parseOptions({
  publicUrl: 'https://app.example',
  issuer: 'https://idp.example',
  clientId: 'c',
  clientSecret: 's',
  cookieSecrets: [{ id: 1, secret }],
})

describe('SessionCookie.unseal with its cache', () => {
  it('unseals a genuine cookie, and again from the cache', async () => {
    const cookie = new SessionCookie(config)
    const sid = randomId()
    const sealed = await sealData({ sid }, { password: { 1: secret } })
    expect(await cookie.unseal(sealed)).toBe(sid)
    expect(await cookie.unseal(sealed)).toBe(sid)
  })

  it('still refuses a tampered copy of a cookie it has cached', async () => {
    const cookie = new SessionCookie(config)
    const sealed = await sealData({ sid: randomId() }, { password: { 1: secret } })
    await cookie.unseal(sealed)
    const at = sealed.length - 10
    const tampered = sealed.slice(0, at) + (sealed[at] === 'A' ? 'B' : 'A') + sealed.slice(at + 1)
    expect(await cookie.unseal(tampered)).toBeNull()
  })

  it('refuses a seal made with another password, every time', async () => {
    const cookie = new SessionCookie(config)
    const foreign = await sealData(
      { sid: randomId() },
      { password: { 1: `other-${'x'.repeat(32)}` } },
    )
    expect(await cookie.unseal(foreign)).toBeNull()
    expect(await cookie.unseal(foreign)).toBeNull()
  })

  it('refuses a seal whose id is too short to be one of ours', async () => {
    const cookie = new SessionCookie(config)
    expect(
      await cookie.unseal(await sealData({ sid: 'short' }, { password: { 1: secret } })),
    ).toBeNull()
  })
})

describe('BoundedCache', () => {
  it('forgets an entry at its expiry', () => {
    const cache = new BoundedCache<string>(10)
    cache.set('k', 'v', 1000)
    expect(cache.get('k', 999)).toBe('v')
    expect(cache.get('k', 1000)).toBeUndefined()
  })

  it('drops the oldest entries beyond its size', () => {
    const cache = new BoundedCache<number>(3)
    for (let i = 0; i < 5; i++) cache.set(`k${i}`, i, Number.POSITIVE_INFINITY)
    expect(cache.size).toBe(3)
    expect(cache.get('k0')).toBeUndefined()
    expect(cache.get('k4')).toBe(4)
  })
})
