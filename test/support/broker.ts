import { randomBytes } from 'node:crypto'
import { getRequestListener } from '@hono/node-server'
import type { Hono } from 'hono'
import { inject } from 'vitest'
import { type Bff, type BffDeps, createBff } from '../../src/app.js'
import type { BffOptions } from '../../src/config/schema.js'
import { createLimitedServer } from '../../src/http/limited-server.js'
import { randomId } from '../../src/lib/random.js'
import { createLogger } from '../../src/observability/logger.js'
import { sessionKey } from '../../src/session/session-key.js'
import { TokenCipher } from '../../src/session/token-cipher.js'
import { RedisSessionStore } from '../../src/store/redis-session-store.js'
import { freePort } from './free-port.js'
import { until } from './until.js'

export interface TestBroker {
  url: string
  port: number
  bff: Bff
  /** The Redis store with this broker's own key prefix. */
  store: RedisSessionStore
  stop(): Promise<void>
}

/** Reserves the broker's address first: the provider must know the redirect URI before it starts. */
export async function reserveBrokerUrl(): Promise<{ url: string; port: number }> {
  const port = await freePort()
  return { url: `http://127.0.0.1:${port}`, port }
}

export function testCookieSecrets() {
  return [{ id: 1, secret: `test-only-${randomId(24)}` }]
}

/** A fresh AES-256 key for the token fields at rest (test-only). */
export function testTokenKeys(id = 1) {
  return [{ id, key: randomBytes(32).toString('base64') }]
}

/**
 * A broker on a real socket with a real Redis (the run's shared redis-server, a fresh key
 * prefix per broker). Options override test defaults.
 */
export async function startBroker(
  address: { url: string; port: number },
  options: Partial<BffOptions> & Pick<BffOptions, 'issuer' | 'clientId'>,
  deps: BffDeps = {},
  /**
   * Builds the served app around the broker (library use, served through Hono only);
   * without it the broker serves itself with its node listener, /api lane included.
   */
  host?: (bff: Bff) => Hono,
): Promise<TestBroker> {
  const store =
    (deps.store as RedisSessionStore | undefined) ??
    new RedisSessionStore({ url: inject('redisUrl'), keyPrefix: `it-${randomId(6)}:` })
  const bff = createBff(
    {
      publicUrl: address.url,
      cookieSecrets: testCookieSecrets(),
      tokenEncryptionKeys: testTokenKeys(),
      dangerouslyAllowHttpIssuer: true,
      ...options,
    },
    { logger: createLogger('silent'), ...deps, store },
  )
  await bff.ready()
  // The standalone server's deadlines and connection caps, at their defaults.
  const server = createLimitedServer(
    host ? getRequestListener(host(bff).fetch) : bff.nodeListener(),
    { trustedProxies: bff.config.trustedProxies, logger: bff.logger, metrics: bff.metrics },
  )
  server.on('upgrade', bff.upgradeListener())
  await new Promise<void>((resolve) => server.listen(address.port, '127.0.0.1', resolve))
  return {
    url: address.url,
    port: address.port,
    bff,
    store,
    async stop() {
      bff.goAway()
      await new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
      await bff.close()
    },
  }
}

/** The stored session behind a browser's session cookie (tests read tokens from here to hunt for leaks). */
export async function storedSessionOf(broker: TestBroker, sealedCookie: string | undefined) {
  const { unsealData } = await import('iron-session')
  const password = Object.fromEntries(
    broker.bff.config.cookieSecrets.map((s) => [String(s.id), s.secret]),
  )
  const { sid } = await unsealData<{ sid?: string }>(sealedCookie ?? '', { password })
  if (!sid) throw new Error('the cookie does not unseal to a session id')
  const key = sessionKey(sid)
  const stored = await broker.store.getSession(key)
  const keys = broker.bff.config.tokenEncryptionKeys
  if (!stored || keys.length === 0) return { key, session: stored }
  return {
    key,
    session: { ...stored, tokens: new TokenCipher(keys).open(stored.tokens, key) },
  }
}

/** Resolves once the broker's session change feed is live (its cache serves only then). */
export function changeFeedLive(broker: TestBroker): Promise<void> {
  return until(() => Boolean(broker.store.changes()?.live), 'the session change feed')
}
