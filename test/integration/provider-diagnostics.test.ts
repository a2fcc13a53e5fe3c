import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../src/observability/logger.js'
import type { HttpBrowser } from '../support/http-browser.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

const lines: Array<Record<string, unknown>> = []
const sink = new Writable({
  write(chunk, _encoding, done) {
    for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line))
    done()
  },
})
const logged = (event: string) => lines.filter((line) => line.event === event)

/*
 * What a person needs when a provider refuses: its status, `error` and `error_description` in
 * the log line, and an answer that says whose fault it is. The scripted provider answers as
 * the providers met in the field do.
 */
describe('provider refusals a person can diagnose', () => {
  let offset = 0
  const t = useScriptedBroker(
    {},
    { logger: createLogger('info', sink), clock: { now: () => Date.now() + offset } },
  )

  it('a refused client: its own code and page, and the provider’s words in the log', async () => {
    t.provider.script.tokenResponse = () => ({
      status: 401,
      body: '{"error":"invalid_client","error_description":"client authentication failed"}',
    })
    const { response } = await t.signIn()
    expect(response.status).toBe(502)
    const page = await response.text()
    expect(page).toContain('provider_rejected_client')
    expect(page).toContain('registration at the provider needs fixing')
    expect(logged('login.callback_failed').at(-1)).toMatchObject({
      reason: 'provider_rejected_client',
      code: 'provider_rejected_client',
      providerStatus: 401,
      providerError: 'invalid_client',
      providerErrorDescription: 'client authentication failed',
    })
    const metrics = await t.broker.bff.metrics.registry.metrics()
    expect(metrics).toMatch(
      /bff_login_failures_total\{stage="callback",reason="provider_rejected_client"\} 1/,
    )
  })

  it('a refresh refused with an empty 400: outcome refused, with the status logged', async () => {
    offset = 0
    const { browser } = await t.signIn()
    t.provider.script.tokenResponse = () => ({ status: 400, body: '', contentType: 'text/plain' })
    offset = 400_000
    const response = await t.apiCall(browser as HttpBrowser, '/api/echo/refused')
    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ error: 'session_expired' })
    const line = logged('refresh.refused').at(-1)
    expect(line).toMatchObject({ providerStatus: 400 })
    expect(line?.providerError).toBeUndefined()
    const metrics = await t.broker.bff.metrics.registry.metrics()
    expect(metrics).toMatch(/bff_refresh_total\{outcome="refused"\} 1/)
    expect(metrics).not.toMatch(/outcome="invalid_grant"/)
  })

  it('a refresh refused with invalid_grant names it, with its description', async () => {
    offset = 0
    const { browser } = await t.signIn()
    t.provider.script.tokenResponse = (defaults) =>
      defaults.refresh_token && t.provider.tokenRequests.at(-1)?.grantType === 'refresh_token'
        ? { status: 400, body: '{"error":"invalid_grant","error_description":"token reused"}' }
        : defaults
    offset = 400_000
    expect((await t.apiCall(browser as HttpBrowser, '/api/echo/reused')).status).toBe(401)
    expect(logged('refresh.refused').at(-1)).toMatchObject({
      providerStatus: 400,
      providerError: 'invalid_grant',
      providerErrorDescription: 'token reused',
    })
  })

  it('a refresh that finds the client refused keeps every session: 502, nothing ended, refreshed once the client is fixed', async () => {
    offset = 0
    const { browser } = await t.signIn()
    const refreshAnswer = t.provider.script.tokenResponse
    // The secret was rotated at the provider, not yet in the broker (Glewlwyd words it so).
    t.provider.script.tokenResponse = () => ({
      status: 403,
      body: '{"error":"unauthorized_client","error_description":"client authentication failed"}',
    })
    offset = 400_000
    const refused = await t.apiCall(browser as HttpBrowser, '/api/echo/rotated')
    expect(refused.status).toBe(502)
    expect(await refused.json()).toMatchObject({ error: 'provider_rejected_client' })
    expect(logged('refresh.client_rejected').at(-1)).toMatchObject({
      providerStatus: 403,
      providerError: 'unauthorized_client',
    })
    expect(await t.broker.bff.metrics.registry.metrics()).toMatch(
      /bff_refresh_total\{outcome="client_rejected"\} 1/,
    )
    // The session and its refresh token are intact: once the provider accepts the client
    // again, the same browser goes on without signing in.
    t.provider.script.tokenResponse = refreshAnswer
    const again = await t.apiCall(browser as HttpBrowser, '/api/echo/fixed')
    expect(again.status).toBe(200)
  })
})
