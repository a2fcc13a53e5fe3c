import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { throwawayCertificate } from '../../e2e/support/tls.js'
import type { BffOptions } from '../../src/config/schema.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

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
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    const { port } = upstream.address() as AddressInfo
    options.apiRoutes = [{ prefix: '/api/untrusted', upstream: `https://localhost:${port}` }]
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
})
