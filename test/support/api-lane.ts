import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import { expect } from 'vitest'
import type { TestBroker } from './broker.js'
import { rawRequest } from './raw-request.js'
import type { ScriptedSetup } from './scripted-broker.js'

/** How many requests the broker's node-level /api lane has served. */
export async function laneCount(broker: TestBroker): Promise<number> {
  return (await broker.bff.metrics.proxyLane.get()).values[0]?.value ?? 0
}

/** The same broker behind Hono's request listener only (no lane), on its own port. */
export async function honoOnly(
  broker: TestBroker,
): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer(getRequestListener(broker.bff.app.fetch))
  // WebSocket handshakes never reach a request listener: the same upgrade listener for both.
  server.on('upgrade', broker.bff.upgradeListener())
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/**
 * Signs in and makes the session warm: the first call unseals the cookie, caches the session
 * and learns the rate-limit window; the second is served by the lane (proven by its counter).
 * The broker's change feed must be live (changeFeedLive) and its rate limit at least 4.
 */
export async function warmLaneSession(t: ScriptedSetup): Promise<{ cookie: string }> {
  const { browser } = await t.signIn()
  const cookie = browser.cookieHeaderFor(t.broker.url)
  const call = () => rawRequest(t.broker.url, '/api/echo/warm', { cookie, 'x-csrf': '1' })
  expect((await call()).status).toBe(200)
  const before = await laneCount(t.broker)
  expect((await call()).status).toBe(200)
  expect(await laneCount(t.broker)).toBe(before + 1)
  return { cookie }
}
