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

describe('SessionCookie: one spelling per seal', () => {
  it.each(['X', '~junk', '0', '~2', '~3'])(
    'refuses the genuine seal with %j appended, and never caches it',
    async (suffix) => {
      const cookie = new SessionCookie(config)
      const sealed = await sealData({ sid: randomId() }, { password: { 1: secret } })
      expect(await cookie.unseal(sealed)).not.toBeNull()
      expect(cookie.isCanonical(`${sealed}${suffix}`)).toBe(false)
      expect(await cookie.unseal(`${sealed}${suffix}`)).toBeNull()
      expect(cookie.unsealedBefore(`${sealed}${suffix}`)).toBeUndefined()
    },
  )

  it('refuses a seal naming a password id it does not have', async () => {
    const cookie = new SessionCookie(config)
    const sealed = await sealData({ sid: randomId() }, { password: { 7: secret } })
    expect(cookie.isCanonical(sealed)).toBe(false)
  })

  it('keeps a cached genuine cookie while 200 long re-spellings of another are presented', async () => {
    const cookie = new SessionCookie(config, { cacheEntries: 100 })
    const victim = await sealData({ sid: randomId() }, { password: { 1: secret } })
    const attacker = await sealData({ sid: randomId() }, { password: { 1: secret } })
    await cookie.unseal(victim)
    for (let i = 0; i < 200; i++) await cookie.unseal(`${attacker}${'X'.repeat(1000)}${i}`)
    expect(cookie.unsealedBefore(victim)).toBeDefined()
  })
})

describe('SessionCookie: the memo of recent hashes', () => {
  it('answers from the cache only for the exact seal, before and after the memo is full', async () => {
    const cookie = new SessionCookie(config)
    const sid = randomId()
    const sealed = await sealData({ sid }, { password: { 1: secret } })
    const at = sealed.length - 10
    const tampered = sealed.slice(0, at) + (sealed[at] === 'A' ? 'B' : 'A') + sealed.slice(at + 1)
    await cookie.unseal(sealed)
    expect(cookie.unsealedBefore(sealed)?.sid).toBe(sid)
    expect(cookie.unsealedBefore(tampered)).toBeUndefined()
    expect(await cookie.unseal(tampered)).toBeNull()
    // Canonical-looking values that do not unseal fill the memo past its size.
    for (let i = 0; i < 1100; i++) {
      await cookie.unseal(
        `${tampered.slice(0, at - 6)}${String(i).padStart(6, '0')}${tampered.slice(at)}`,
      )
    }
    expect(cookie.unsealedBefore(sealed)?.sid).toBe(sid)
    expect(cookie.unsealedBefore(tampered)).toBeUndefined()
  })
})

describe('BoundedCache', () => {
  it('drops the oldest entries beyond its byte budget', () => {
    const cache = new BoundedCache<string>({
      maxEntries: 100,
      maxBytes: 30,
      sizeOf: (key, value) => key.length + value.length,
    })
    for (let i = 0; i < 5; i++) cache.set(`k${i}`, 'v'.repeat(8), Number.POSITIVE_INFINITY)
    expect(cache.size).toBe(3)
    expect(cache.bytes).toBe(30)
    expect(cache.get('k1')).toBeUndefined()
    expect(cache.get('k4')).toBe('vvvvvvvv')
  })

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
