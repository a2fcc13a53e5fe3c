import { describe, expect, it } from 'vitest'
import { HttpBrowser } from '../support/http-browser.js'
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
