import { describe, expect, it } from 'vitest'
import { storedSessionOf } from '../support/broker.js'
import { HttpBrowser } from '../support/http-browser.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

const TOKEN = 'metrics-token-for-tests-only-0123456789'

/** The value of one sample line, or 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (wanted.every((pair) => line.includes(pair))) return Number(line.split(' ').at(-1))
  }
  return 0
}

describe('GET /metrics', () => {
  let offset = 0
  const t = useScriptedBroker(
    { metricsToken: TOKEN },
    { clock: { now: () => Date.now() + offset } },
  )

  const scrape = async () => {
    const response = await fetch(`${t.broker.url}/metrics`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    })
    expect(response.status).toBe(200)
    return response.text()
  }

  it('refuses a scrape without the token, or with a wrong one', async () => {
    expect((await fetch(`${t.broker.url}/metrics`)).status).toBe(401)
    const wrong = await fetch(`${t.broker.url}/metrics`, {
      headers: { authorization: 'Bearer nope' },
    })
    expect(wrong.status).toBe(401)
  })

  it('counts sign-ins, failures by reason, refreshes, proxy calls, store latency and ended sessions', async () => {
    const before = await scrape()
    const { browser } = await t.signIn()
    const secret = await storedSessionOf(t.broker, browser.cookie('__Host-bff-session')?.value)
    // A failed callback (forged state) and a failed ID token (wrong nonce).
    await new HttpBrowser().request(`${t.broker.url}/auth/callback?state=forged&code=x`)
    t.provider.script.idToken = { claims: (c) => ({ ...c, nonce: 'wrong' }) }
    await t.signIn()
    delete t.provider.script.idToken
    // A proxied call, then one after expiry (refresh), then sign out.
    expect((await t.apiCall(browser, '/api/echo/a')).status).toBe(200)
    offset = 400_000
    expect((await t.apiCall(browser, '/api/echo/b')).status).toBe(200)
    offset = 0
    await browser.request(`${t.broker.url}/auth/logout`, {
      method: 'POST',
      initiator: t.broker.url,
    })

    const after = await scrape()
    const delta = (name: string, labels?: Record<string, string>) =>
      sample(after, name, labels) - sample(before, name, labels)
    expect(delta('bff_logins_started_total')).toBe(2)
    expect(delta('bff_logins_completed_total')).toBe(1)
    expect(delta('bff_login_failures_total', { stage: 'callback', reason: 'state' })).toBe(1)
    expect(delta('bff_login_failures_total', { stage: 'callback', reason: 'nonce' })).toBe(1)
    expect(delta('bff_refresh_total', { outcome: 'refreshed' })).toBe(1)
    expect(delta('bff_proxy_requests_total', { route: '/api/echo', status: '200' })).toBe(2)
    expect(delta('bff_proxy_request_duration_seconds_count', { route: '/api/echo' })).toBe(2)
    expect(delta('bff_sessions_created_total')).toBe(1)
    expect(delta('bff_sessions_ended_total', { reason: 'logout' })).toBe(1)
    expect(
      delta('bff_store_operation_duration_seconds_count', { operation: 'getSession' }),
    ).toBeGreaterThan(0)
    expect(sample(after, 'bff_jwks_fetches_total')).toBeGreaterThanOrEqual(1)

    // No label or value carries a user, token or session id.
    for (const forbidden of [
      'user-1',
      secret.key,
      secret.session?.tokens.accessToken,
      secret.session?.tokens.refreshToken,
      browser.cookie('__Host-bff-session')?.value,
    ]) {
      if (forbidden) expect(after).not.toContain(forbidden)
    }
  })
})
