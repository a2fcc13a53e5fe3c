import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/config/config-error.js'
import { parseOptions } from '../../src/config/parse-options.js'
import { validateReturnTo } from '../../src/lib/return-to.js'
import { endSessionFormOf } from '../support/html-form.js'
import { HttpBrowser } from '../support/http-browser.js'
import { OPEN_REDIRECT_PAYLOADS } from '../support/open-redirect-corpus.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

const payloads = [
  '//evil.example',
  'https://evil.example',
  '/\\evil.example',
  '/%2F%2Fevil.example',
  'javascript:alert(1)',
  '/ok\u0000',
  '/ok\r\nSet-Cookie: x=1',
  '\t//evil.example',
  '/.//evil.example',
]

describe('returnTo at /auth/login', () => {
  const t = useScriptedBroker()

  it.each(payloads)('refuses %j with 400 and starts no transaction', async (returnTo) => {
    const browser = new HttpBrowser()
    const url = new URL('/auth/login', t.broker.url)
    url.searchParams.set('returnTo', returnTo)
    const response = await browser.request(url.href)
    expect(response.status).toBe(400)
    expect(await response.text()).toContain('invalid_return_to')
    expect(response.headers.get('location')).toBeNull()
    expect(browser.cookies()).toEqual([])
    expect(t.provider.calls.authorize).toBe(0)
  })

  it('keeps returnTo out of the state sent to the provider', async () => {
    const browser = new HttpBrowser()
    const response = await browser.request(`${t.broker.url}/auth/login?returnTo=%2Fsecret-path`)
    const location = response.headers.get('location') ?? ''
    expect(location).not.toContain('secret-path')
  })
})

/** Where a browser on `origin` would end up after a redirect or meta refresh to `target`. */
function landsOn(target: string, origin: string): string {
  return new URL(target, origin).origin
}

describe(`an open-redirect corpus of ${OPEN_REDIRECT_PAYLOADS.length} payloads`, () => {
  // Hundreds of sign-ins from one address: the rate limits are tested elsewhere.
  const t = useScriptedBroker({ rateLimitLogin: null, rateLimitCallback: null })

  it('has at least 200 payloads', () => {
    expect(OPEN_REDIRECT_PAYLOADS.length).toBeGreaterThanOrEqual(200)
  })

  it.each(OPEN_REDIRECT_PAYLOADS)(
    'returnTo %j is refused, or lands on this origin after sign-in',
    async (payload) => {
      const url = new URL('/auth/login', t.broker.url)
      url.searchParams.set('returnTo', payload)
      const browser = new HttpBrowser()
      const login = await browser.request(url.href, { initiator: t.broker.url })
      if (login.status === 400) return
      expect(login.status).toBe(302)
      const callback = await browser.follow(login.headers.get('location') ?? '', {
        initiator: t.broker.url,
      })
      expect(callback.status).toBe(200)
      const target = /content="0;url=([^"]*)"/.exec(await callback.text())?.[1] ?? ''
      const unescaped = target.replaceAll('&amp;', '&').replaceAll('&#39;', "'")
      expect(unescaped.startsWith('/')).toBe(true)
      expect(unescaped.startsWith('//')).toBe(false)
      expect(landsOn(unescaped, t.broker.url)).toBe(t.broker.url)
    },
  )

  it.each(OPEN_REDIRECT_PAYLOADS)(
    'the signed-out page never sends the browser to %j',
    async (payload) => {
      const url = new URL('/auth/signed-out', t.broker.url)
      for (const name of [
        'returnTo',
        'post_logout_redirect_uri',
        'redirect_uri',
        'next',
        'state',
      ]) {
        url.searchParams.set(name, payload)
      }
      const response = await new HttpBrowser().request(url.href)
      const location = response.headers.get('location')
      if (location !== null) expect(location).toBe(t.broker.bff.config.postLogoutReturnTo)
      const html = await response.text()
      for (const href of html.matchAll(/href="([^"]*)"/g)) {
        expect(landsOn(href[1] ?? '', t.broker.url)).toBe(t.broker.url)
      }
    },
  )

  it.each(OPEN_REDIRECT_PAYLOADS)(
    'POST_LOGOUT_RETURN_TO %j is refused at start, or stays on this origin',
    (payload) => {
      let accepted: string | undefined
      try {
        accepted = parseOptions({
          publicUrl: 'https://app.example',
          issuer: 'https://idp.example',
          clientId: 'c',
          clientSecret: 's',
          cookieSecrets: [{ id: 1, secret: 'x'.repeat(32) }],
          postLogoutReturnTo: payload,
        }).postLogoutReturnTo
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError)
        return
      }
      expect(landsOn(accepted, 'https://app.example')).toBe('https://app.example')
      expect(validateReturnTo(accepted, 'https://app.example')).toBe(accepted)
    },
  )

  it('a logout never redirects to a target the request names', async () => {
    const { browser } = await t.signIn()
    const url = new URL('/auth/logout', t.broker.url)
    url.searchParams.set('returnTo', '//evil.example')
    url.searchParams.set('post_logout_redirect_uri', 'https://evil.example')
    const response = await browser.request(url.href, { method: 'POST', initiator: t.broker.url })
    expect(response.status).toBe(200)
    const form = await endSessionFormOf(response, url.href)
    expect(new URL(form.action).origin).toBe(new URL(t.provider.issuer).origin)
    expect(form.fields.post_logout_redirect_uri).toBe(`${t.broker.url}/auth/signed-out`)
  })
})
