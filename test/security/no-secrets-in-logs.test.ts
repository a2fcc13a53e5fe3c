import { Writable } from 'node:stream'
import { unsealData } from 'iron-session'
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../src/observability/logger.js'
import { storedSessionOf } from '../support/broker.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

const lines: string[] = []
const sink = new Writable({
  write(chunk, _encoding, done) {
    lines.push(String(chunk))
    done()
  },
})

/*
 * Every log line the broker writes at its most verbose level during a whole session's life
 * (sign-in, API call, refresh, a refused refresh, failed sign-ins, logout) is searched for
 * every secret that passed through it.
 */
describe('no secrets in logs', () => {
  // A short provider circuit: the outage below opens it, and the next sign-in waits it out.
  const PROBE_MS = 100
  const t = useScriptedBroker(
    { providerCircuitProbeMs: PROBE_MS },
    { logger: createLogger('trace', sink) },
  )

  it('logs no token, code, verifier, cookie value, session id or secret across a session’s life', async () => {
    const secrets = new Set<string>()
    const keep = (value: string | undefined | null) => {
      if (value && value.length >= 8) secrets.add(value)
    }
    const config = t.broker.bff.config
    keep(config.clientSecret)
    for (const { secret } of config.cookieSecrets) keep(secret)
    for (const { key } of config.tokenEncryptionKeys) keep(key)

    // Sign-in with a short access token, so the next API call refreshes it.
    t.provider.script.tokenResponse = (d) => ({ ...d, expires_in: 1 })
    const { browser, response } = await t.signIn()
    expect(response.status).toBe(200)
    t.provider.script.tokenResponse = undefined
    const cookie = browser.cookie('__Host-bff-session')?.value
    keep(cookie)
    const password = Object.fromEntries(config.cookieSecrets.map((s) => [String(s.id), s.secret]))
    keep((await unsealData<{ sid: string }>(cookie ?? '', { password })).sid)
    const first = await storedSessionOf(t.broker, cookie)
    keep(first.session?.tokens.accessToken)
    keep(first.session?.tokens.refreshToken)
    keep(first.session?.tokens.idToken)

    // An API call that refreshes, and an upstream failure.
    await new Promise((resolve) => setTimeout(resolve, 600))
    expect((await t.apiCall(browser, '/api/echo/orders')).status).toBe(200)
    expect((await t.apiCall(browser, '/api/down/x')).status).toBe(502)
    const refreshed = await storedSessionOf(t.broker, cookie)
    expect(refreshed.session?.tokens.refreshToken).not.toBe(first.session?.tokens.refreshToken)
    keep(refreshed.session?.tokens.accessToken)
    keep(refreshed.session?.tokens.refreshToken)
    keep(refreshed.session?.tokens.idToken)

    // Failed sign-ins: a bad nonce, then a provider outage at the token endpoint.
    t.provider.script.idToken = { claims: (c) => ({ ...c, nonce: 'wrong' }) }
    expect((await t.signIn()).response.status).toBe(400)
    t.provider.script.idToken = undefined
    t.provider.script.tokenResponse = () => ({
      status: 502,
      body: 'down',
      contentType: 'text/plain',
    })
    expect((await t.signIn()).response.status).toBe(503)
    t.provider.script.tokenResponse = undefined
    await new Promise((resolve) => setTimeout(resolve, PROBE_MS))

    // A refresh the provider refuses, on a second session.
    t.provider.script.tokenResponse = (d) => ({ ...d, expires_in: 1 })
    const { browser: second } = await t.signIn()
    t.provider.script.tokenResponse = (d) =>
      d.refresh_token && t.provider.tokenRequests.at(-1)?.grantType === 'refresh_token'
        ? { status: 400, body: '{"error":"invalid_grant"}' }
        : d
    const secondStored = await storedSessionOf(t.broker, second.cookie('__Host-bff-session')?.value)
    keep(secondStored.session?.tokens.refreshToken)
    keep(secondStored.session?.tokens.accessToken)
    await new Promise((resolve) => setTimeout(resolve, 600))
    expect((await t.apiCall(second, '/api/echo/x')).status).toBe(401)
    t.provider.script.tokenResponse = undefined

    // Logout, with revocation and the end-session form.
    const logout = await browser.request(`${t.broker.url}/auth/logout`, {
      method: 'POST',
      initiator: t.broker.url,
    })
    expect(logout.status).toBe(200)

    for (const request of t.provider.tokenRequests) {
      keep(request.params.get('code'))
      keep(request.params.get('code_verifier'))
      keep(request.params.get('refresh_token'))
      keep(request.headers.authorization)
    }
    const log = lines.join('')
    expect(log).toContain('"event":"login.completed"')
    expect(log).toContain('"event":"refresh.succeeded"')
    expect(log).toContain('"event":"logout.completed"')
    expect(log).toContain('"event":"refresh.refused"')
    expect(log).toContain('"event":"login.callback_failed"')
    expect(log).toContain('"event":"request.failed"')
    expect(secrets.size).toBeGreaterThan(15)
    const leaked = [...secrets].filter((secret) => log.includes(secret))
    expect(leaked).toEqual([])
  })
})
