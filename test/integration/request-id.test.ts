import { describe, expect, it } from 'vitest'
import { useScriptedBroker } from '../support/scripted-broker.js'

async function callWithId(t: ReturnType<typeof useScriptedBroker>, id: string) {
  const { browser } = await t.signIn()
  const response = await t.apiCall(browser, '/api/echo/id', { headers: { 'x-request-id': id } })
  expect(response.status).toBe(200)
  return { response, upstreamSaw: t.upstream.requests.at(-1)?.headers['x-request-id'] }
}

describe('request ids from an untrusted client', () => {
  const t = useScriptedBroker()

  it('ignores the client’s X-Request-Id and uses its own, upstream and in the answer', async () => {
    const { response, upstreamSaw } = await callWithId(t, 'forged-by-client')
    const id = response.headers.get('x-request-id')
    expect(id).toMatch(/^[A-Za-z0-9_-]{12}$/)
    expect(upstreamSaw).toBe(id)
  })

  it('names the request id in JSON error bodies', async () => {
    const response = await fetch(`${t.broker.url}/auth/user`, {
      headers: { 'x-request-id': 'forged' },
    })
    const body = await response.json()
    expect(body.request_id).toBe(response.headers.get('x-request-id'))
    expect(body.request_id).not.toBe('forged')
  })
})

describe('request ids behind a trusted proxy', () => {
  const t = useScriptedBroker({ trustedProxies: ['127.0.0.1/32'] })

  it('keeps the proxy’s X-Request-Id, upstream and in the answer', async () => {
    const { response, upstreamSaw } = await callWithId(t, 'lb-7f3a.42')
    expect(response.headers.get('x-request-id')).toBe('lb-7f3a.42')
    expect(upstreamSaw).toBe('lb-7f3a.42')
  })

  it('refuses an id that is not a plain token even from the proxy', async () => {
    const { response } = await callWithId(t, 'bad id\twith spaces')
    expect(response.headers.get('x-request-id')).not.toContain(' ')
  })
})
