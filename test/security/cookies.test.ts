import { sealData } from 'iron-session'
import { describe, expect, it } from 'vitest'
import { randomId } from '../../src/lib/random.js'
import { HttpBrowser } from '../support/http-browser.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

const COOKIE = '__Host-bff-session'

describe('session cookie attacks', () => {
  const t = useScriptedBroker()

  async function withCookie(value: string) {
    return new HttpBrowser().request(`${t.broker.url}/auth/user`, {
      headers: { cookie: `${COOKIE}=${value}` },
    })
  }

  it('refuses a tampered seal and clears it', async () => {
    const { browser } = await t.signIn()
    const value = browser.cookie(COOKIE)?.value ?? ''
    const tampered = value.slice(0, 40) + (value[40] === 'A' ? 'B' : 'A') + value.slice(41)
    const response = await withCookie(tampered)
    expect(response.status).toBe(401)
    expect(clearsCookieOf(response)).toBe(true)
  })

  it('refuses a seal made with another password', async () => {
    const forged = await sealData(
      { sid: randomId() },
      { password: { 1: `attacker-${randomId(32)}` } },
    )
    const response = await withCookie(forged)
    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ error: 'unauthenticated' })
  })

  it('refuses a genuine seal whose session was deleted, and clears it', async () => {
    const secret = t.broker.bff.config.cookieSecrets[0]?.secret ?? ''
    const orphan = await sealData({ sid: randomId() }, { password: { 1: secret } })
    const response = await withCookie(orphan)
    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ error: 'session_expired' })
    expect(clearsCookieOf(response)).toBe(true)
  })

  it('never lets a session cookie planted before sign-in ride along (fixation)', async () => {
    const { browser: attacker } = await t.signIn()
    const planted = attacker.cookie(COOKIE)?.value ?? ''
    const victim = new HttpBrowser()
    victim.jar.store(new URL(t.broker.url), [
      `${COOKIE}=${planted}; Path=/; Secure; HttpOnly; SameSite=Strict`,
    ])
    await t.signIn(victim)
    const victimCookie = victim.cookie(COOKIE)?.value
    expect(victimCookie).toBeDefined()
    expect(victimCookie).not.toBe(planted)
    // The planted session was destroyed: the attacker's copy opens nothing any more.
    expect((await withCookie(planted)).status).toBe(401)
    expect((await withCookie(victimCookie ?? '')).status).toBe(200)
  })

  it.each(['X', '~junk', '0', '~2', '%7E2'])(
    'refuses a genuine cookie re-spelled with %j appended, on /auth/user and /api',
    async (suffix) => {
      const { browser } = await t.signIn()
      const value = browser.cookie(COOKIE)?.value ?? ''
      // The genuine spelling works, and is now in the broker's unseal cache.
      expect((await withCookie(value)).status).toBe(200)
      const respelled = `${value}${suffix}`
      const user = await withCookie(respelled)
      expect(user.status).toBe(401)
      expect(await user.json()).toMatchObject({ error: 'unauthenticated' })
      const api = await new HttpBrowser().request(`${t.broker.url}/api/echo/x`, {
        headers: { cookie: `${COOKIE}=${respelled}`, 'x-csrf': '1' },
      })
      expect(api.status).toBe(401)
      expect(t.upstream.requests).toHaveLength(0)
    },
  )

  it('refuses garbage without a 500', async () => {
    for (const value of ['', 'x', 'Fe26.2**', '%00%ff', 'a'.repeat(4000)]) {
      expect((await withCookie(value)).status).toBe(401)
    }
  })
})

describe('cookie secret rotation', () => {
  const first = { id: 1, secret: `test-only-first-${randomId(24)}` }
  const second = { id: 2, secret: `test-only-second-${randomId(24)}` }
  const t = useScriptedBroker({ cookieSecrets: [first] })

  const user = (url: string, cookie: string) =>
    new HttpBrowser().request(`${url}/auth/user`, { headers: { cookie } })

  it('keeps sessions valid when a new secret is added, and seals new cookies with it', async () => {
    const { browser } = await t.signIn()
    const cookie = browser.cookieHeaderFor(t.broker.url)
    const rotated = await t.sibling({ cookieSecrets: [first, second] })
    expect((await user(rotated.url, cookie)).status).toBe(200)
    const fresh = new HttpBrowser()
    await fresh.follow(`${rotated.url}/auth/login`, { initiator: rotated.url })
    const sealed = fresh.cookie(COOKIE)?.value ?? ''
    // iron-session writes the id of the password that sealed it after the last `~`.
    expect(sealed.split('~').at(-1)?.split('*')[0]).toBe('2')
    const onlyNew = await t.sibling({ cookieSecrets: [second] })
    expect((await user(onlyNew.url, `${COOKIE}=${sealed}`)).status).toBe(200)
  })

  it('ends sessions sealed with a removed secret cleanly: 401 and the cookie cleared, never 500', async () => {
    const { browser } = await t.signIn()
    const onlyNew = await t.sibling({ cookieSecrets: [second] })
    const response = await user(onlyNew.url, browser.cookieHeaderFor(t.broker.url))
    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ error: 'unauthenticated' })
    expect(clearsCookieOf(response)).toBe(true)
  })
})

function clearsCookieOf(response: Response) {
  return response.headers
    .getSetCookie()
    .some((line) => line.startsWith(`${COOKIE}=;`) && /max-age=0/i.test(line))
}
