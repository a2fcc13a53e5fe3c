import { describe, expect, it } from 'vitest'
import { storedSessionOf } from '../support/broker.js'
import { storeFailingAt } from '../support/failing-store.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

/*
 * Attack on the single-use refresh token: the provider rotates it, then the store write of the
 * new token set fails. Sending the old refresh token again would be a reuse, which rotating
 * providers punish by revoking the whole grant.
 */
describe('a refresh whose store write fails', () => {
  let offset = 0
  const { store, control } = storeFailingAt('sessions', 'replaceSession')
  const t = useScriptedBroker({}, { store, clock: { now: () => Date.now() + offset } })
  const refreshGrants = () =>
    t.provider.tokenRequests.filter((r) => r.grantType === 'refresh_token')

  it('answers 503, then stores the kept token set without spending the old refresh token again', async () => {
    const { browser } = await t.signIn()
    const cookie = browser.cookie('__Host-bff-session')?.value
    const before = await storedSessionOf(t.broker, cookie)
    offset += 301_000
    control.failing = true
    const failed = await t.apiCall(browser, '/api/echo/during')
    control.failing = false
    expect(failed.status).toBe(503)
    expect(failed.headers.get('retry-after')).toBeTruthy()
    expect(await failed.json()).toMatchObject({ error: 'store_unavailable' })
    expect(refreshGrants()).toHaveLength(1)
    expect(t.upstream.requests).toHaveLength(0)

    // Retried after Retry-After, once the store's circuit lets calls through again.
    offset += Number(failed.headers.get('retry-after')) * 1000
    const retried = await t.apiCall(browser, '/api/echo/after')
    expect(retried.status).toBe(200)
    // No second grant: the token set the provider issued the first time was written instead.
    expect(refreshGrants()).toHaveLength(1)
    const after = await storedSessionOf(t.broker, cookie)
    expect(after.session?.version).toBe((before.session?.version ?? 0) + 1)
    expect(after.session?.tokens.refreshToken).not.toBe(before.session?.tokens.refreshToken)
    expect(t.upstream.requests[0]?.headers.authorization).toBe(
      `Bearer ${after.session?.tokens.accessToken}`,
    )

    // The next expiry spends the new refresh token: every refresh token is sent once.
    offset += 301_000
    expect((await t.apiCall(browser, '/api/echo/next')).status).toBe(200)
    const sent = refreshGrants().map((r) => r.params.get('refresh_token'))
    expect(sent).toHaveLength(2)
    expect(new Set(sent).size).toBe(2)
    expect(sent[0]).toBe(before.session?.tokens.refreshToken)
  })

  it('drops the kept token set when the session ended meanwhile (401, nothing written)', async () => {
    const { browser } = await t.signIn()
    const cookie = browser.cookie('__Host-bff-session')?.value
    const { key } = await storedSessionOf(t.broker, cookie)
    offset += 301_000
    control.failing = true
    const failed = await t.apiCall(browser, '/api/echo/during')
    expect(failed.status).toBe(503)
    control.failing = false
    offset += Number(failed.headers.get('retry-after')) * 1000
    await store.deleteSession(key)
    const response = await t.apiCall(browser, '/api/echo/after')
    expect(response.status).toBe(401)
    expect(await store.getSession(key)).toBeNull()
    expect(refreshGrants()).toHaveLength(1)
  })
})
