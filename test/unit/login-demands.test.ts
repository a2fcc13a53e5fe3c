import { describe, expect, it } from 'vitest'
import { BffError } from '../../src/errors/bff-error.js'
import { jsonErrorBody } from '../../src/errors/render.js'
import {
  allowedDemands,
  loginDemandsFrom,
  meetsDemand,
  stepUpRequired,
} from '../../src/oidc/login-demands.js'

const allowed = allowedDemands({
  apiRoutes: [
    { acr: ['urn:mfa'] },
    { authMaxAgeSeconds: 300 },
    { acr: ['urn:hw', 'urn:mfa'], authMaxAgeSeconds: 60 },
    {},
  ],
  loginAcrValues: ['urn:extra'],
  loginMaxAges: [0],
})

const demandsOf = (query: string) => loginDemandsFrom(new URLSearchParams(query), allowed)

describe('login demands', () => {
  it('allows what the routes name and what configuration adds, nothing else', () => {
    expect([...allowed.acrValues].sort()).toEqual(['urn:extra', 'urn:hw', 'urn:mfa'])
    expect([...allowed.maxAges].sort((a, b) => a - b)).toEqual([0, 60, 300])
  })

  it('reads allowed acr_values, max_age and prompt=none', () => {
    expect(demandsOf('')).toEqual({})
    expect(demandsOf('returnTo=/x')).toEqual({})
    expect(demandsOf('acr_values=urn:hw%20urn:mfa&max_age=60')).toEqual({
      acrValues: ['urn:hw', 'urn:mfa'],
      maxAge: 60,
    })
    expect(demandsOf('max_age=0&prompt=none')).toEqual({ maxAge: 0, silent: true })
  })

  it.each([
    'acr_values=urn:other',
    'acr_values=urn:mfa%20urn:other',
    'acr_values=',
    'acr_values=urn:mfa&acr_values=urn:hw',
    'max_age=61',
    'max_age=060x',
    'max_age=1e2',
    'max_age=',
    'prompt=login',
    'prompt=none%20login',
    'prompt=',
  ])('refuses %s with invalid_login_request', (query) => {
    let thrown: unknown
    try {
      demandsOf(query)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(BffError)
    expect((thrown as BffError).code).toBe('invalid_login_request')
    expect((thrown as BffError).status).toBe(400)
  })

  describe('meetsDemand', () => {
    const now = 1_700_000_000_000
    const authTime = now / 1000 - 100

    it('needs one of the acr values', () => {
      expect(meetsDemand({ acr: 'urn:mfa' }, { acr: ['urn:hw', 'urn:mfa'] }, now)).toBe(true)
      expect(meetsDemand({ acr: 'urn:pwd' }, { acr: ['urn:mfa'] }, now)).toBe(false)
      expect(meetsDemand({}, { acr: ['urn:mfa'] }, now)).toBe(false)
    })

    it('needs an auth_time within the age, inclusive, and refuses a missing one', () => {
      expect(meetsDemand({ authTime }, { authMaxAgeSeconds: 100 }, now)).toBe(true)
      expect(meetsDemand({ authTime }, { authMaxAgeSeconds: 99 }, now)).toBe(false)
      expect(meetsDemand({}, { authMaxAgeSeconds: 100_000 }, now)).toBe(false)
      expect(meetsDemand({ authTime: 0 }, { authMaxAgeSeconds: 100_000 }, now)).toBe(false)
    })

    it('needs both when a route names both', () => {
      const demand = { acr: ['urn:mfa'], authMaxAgeSeconds: 200 }
      expect(meetsDemand({ acr: 'urn:mfa', authTime }, demand, now)).toBe(true)
      expect(meetsDemand({ acr: 'urn:pwd', authTime }, demand, now)).toBe(false)
      expect(meetsDemand({ acr: 'urn:mfa', authTime: authTime - 101 }, demand, now)).toBe(false)
    })
  })

  it('answers a refusal with the login URL and challenge that ask for the demand', () => {
    const err = stepUpRequired({ acr: ['urn:hw', 'urn:mfa'], authMaxAgeSeconds: 60 })
    expect(err.status).toBe(401)
    expect(err.wwwAuthenticate).toBe(
      'Bearer error="insufficient_user_authentication", acr_values="urn:hw urn:mfa", max_age=60',
    )
    const body = jsonErrorBody(err, 'req-1')
    expect(body).toMatchObject({
      error: 'step_up_required',
      acr_values: 'urn:hw urn:mfa',
      max_age: 60,
      request_id: 'req-1',
    })
    // What the login URL asks for is exactly what GET /auth/login accepts for this route.
    const loginUrl = new URL(String(body.login_url), 'https://app.example')
    expect(loginUrl.pathname).toBe('/auth/login')
    expect(loginDemandsFrom(loginUrl.searchParams, allowed)).toEqual({
      acrValues: ['urn:hw', 'urn:mfa'],
      maxAge: 60,
    })
  })
})
