import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../src/observability/logger.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

const lines: Array<Record<string, unknown>> = []
const sink = new Writable({
  write(chunk, _encoding, done) {
    for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line))
    done()
  },
})

/*
 * OIDC_AUTH_PARAMS asks for max_age=600: the sign-in must come from an authentication that
 * recent. A provider that answers with an old auth_time (Glewlwyd sends 0), or none, has not
 * re-authenticated the user, and the broker must not create a session from it.
 */
describe('max_age is enforced, not only sent', () => {
  const t = useScriptedBroker(
    { authorizationParams: { max_age: '600' } },
    { logger: createLogger('info', sink) },
  )
  const now = () => Math.floor(Date.now() / 1000)

  it.each([
    ['auth_time 0', 0],
    ['auth_time 20 minutes ago', now() - 1200],
    ['no auth_time', undefined],
  ])('refuses a sign-in with %s: a readable page, no session', async (_name, authTime) => {
    t.provider.script.idToken = {
      claims: (c) => {
        const { auth_time: _drop, ...rest } = c as Record<string, unknown>
        return authTime === undefined ? rest : { ...rest, auth_time: authTime }
      },
    }
    const { browser, response } = await t.signIn()
    expect(t.provider.lastAuthorizationRequest()?.get('max_age')).toBe('600')
    expect(response.status).toBe(400)
    expect(await response.text()).toContain('did not confirm a recent enough sign-in (max_age)')
    expect(browser.cookie('__Host-bff-session')).toBeUndefined()
    expect(lines.filter((l) => l.event === 'login.callback_failed').at(-1)).toMatchObject({
      reason: 'max_age',
    })
  })

  it('signs in with an auth_time inside max_age', async () => {
    t.provider.script.idToken = { claims: (c) => ({ ...c, auth_time: now() - 60 }) }
    const { browser, response } = await t.signIn()
    expect(response.status).toBe(200)
    expect(browser.cookie('__Host-bff-session')).toBeDefined()
  })
})
