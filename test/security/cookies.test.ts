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

  function clearsCookie(response: Response) {
    return response.headers
      .getSetCookie()
      .some((line) => line.startsWith(`${COOKIE}=;`) && /max-age=0/i.test(line))
  }

  it('refuses a tampered seal and clears it', async () => {
    const { browser } = await t.signIn()
    const value = browser.cookie(COOKIE)?.value ?? ''
    const tampered = value.slice(0, 40) + (value[40] === 'A' ? 'B' : 'A') + value.slice(41)
    const response = await withCookie(tampered)
    expect(response.status).toBe(401)
    expect(clearsCookie(response)).toBe(true)
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
    expect(clearsCookie(response)).toBe(true)
  })

  it('refuses garbage without a 500', async () => {
    for (const value of ['', 'x', 'Fe26.2**', '%00%ff', 'a'.repeat(4000)]) {
      expect((await withCookie(value)).status).toBe(401)
    }
  })
})
