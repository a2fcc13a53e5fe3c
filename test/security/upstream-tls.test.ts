import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { throwawayCertificate } from '../../e2e/support/tls.js'
import type { BffOptions } from '../../src/config/schema.js'
import { rawRequest } from '../support/raw-request.js'
import { useScriptedBroker } from '../support/scripted-broker.js'
import { openWebSocket } from '../support/websocket.js'

/*
 * An https upstream whose certificate no trusted authority signed (a man in the middle, or
 * a misconfigured service): the broker must not send it the user's access token.
 */
describe('upstream TLS', () => {
  let upstream: Server
  let reached = 0
  const options: Partial<BffOptions> = {}

  beforeAll(async () => {
    upstream = createServer(throwawayCertificate('localhost'), (_req, res) => {
      reached++
      res.end('{}')
    })
    upstream.on('upgrade', (_req, socket) => {
      reached++
      socket.destroy()
    })
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    const { port } = upstream.address() as AddressInfo
    options.apiRoutes = [
      { prefix: '/api/untrusted', upstream: `https://localhost:${port}`, websocket: true },
    ]
  })
  afterAll(async () => {
    await new Promise<void>((resolve) => upstream?.close(() => resolve()))
  })

  const t = useScriptedBroker(options)

  it('refuses an upstream certificate it cannot verify: 502, and no request (no token) reaches it', async () => {
    const { browser } = await t.signIn()
    const response = await t.apiCall(browser, '/api/untrusted/data')
    expect(response.status).toBe(502)
    expect(await response.json()).toMatchObject({ error: 'upstream_unavailable' })
    expect(reached).toBe(0)
  })

  it('refuses it for a WebSocket handshake too: 502, and no handshake (no token) reaches it', async () => {
    const { browser } = await t.signIn()
    const cookie = browser.cookieHeaderFor(t.broker.url)
    const socket = openWebSocket(`${t.broker.url}/api/untrusted/live`, {
      origin: t.broker.url,
      cookie,
    })
    await expect(socket.opened).rejects.toThrow()
    const answer = await rawRequest(t.broker.url, '/api/untrusted/live', {
      origin: t.broker.url,
      cookie,
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-version': '13',
    })
    expect(answer.status).toBe(502)
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'upstream_unavailable' })
    expect(reached).toBe(0)
  })
})
