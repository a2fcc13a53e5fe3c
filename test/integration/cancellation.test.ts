import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Agent } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Cancellation, exchange } from '../../src/proxy/exchange.js'
import { UpstreamTarget } from '../../src/proxy/upstreams.js'
import { until } from '../support/until.js'

/*
 * Cancellation is the signal undici gets for an upstream exchange (the portable path). It is
 * not an EventEmitter or an AbortSignal, only what undici calls on one: this pins that undici
 * really stops the exchange with it (a change in undici that needs more would fail here).
 */
describe('Cancellation as undici’s signal', () => {
  let server: Server
  let port = 0
  const held: IncomingMessage[] = []
  const dispatcher = new Agent()

  beforeAll(async () => {
    // Answers nothing: every request is held until the client gives up.
    server = createServer((req) => {
      held.push(req)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
  })
  afterAll(async () => {
    await dispatcher.close().catch(() => {})
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  const target = (path: string) =>
    new UpstreamTarget(
      {
        secure: false,
        hostname: '127.0.0.1',
        port,
        host: `127.0.0.1:${port}`,
        origin: `http://127.0.0.1:${port}`,
      },
      path,
    )

  it('a cancel while the upstream has not answered ends the exchange and its connection', async () => {
    const signal = new Cancellation()
    const sent = exchange(
      { target: target('/slow'), method: 'GET', headers: {}, body: null, signal },
      { dispatcher, timeoutMs: 30_000, stallTimeoutMs: 30_000 },
    )
    await until(() => held.length === 1, 'the upstream to receive the request')
    const closed = new Promise<void>((resolve) => held[0]?.socket.once('close', () => resolve()))
    signal.cancel('client')
    await expect(sent).rejects.toMatchObject({ code: 'upstream_unavailable' })
    // undici itself aborted the request: the upstream sees its connection close.
    await closed
  })

  it('a cancel before the exchange starts refuses at once, nothing sent', async () => {
    const signal = new Cancellation()
    signal.cancel('client')
    const before = held.length
    await expect(
      exchange(
        { target: target('/never'), method: 'GET', headers: {}, body: null, signal },
        { dispatcher, timeoutMs: 30_000, stallTimeoutMs: 30_000 },
      ),
    ).rejects.toMatchObject({ code: 'upstream_unavailable' })
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(held.length).toBe(before)
  })
})
