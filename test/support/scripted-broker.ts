import { afterAll, beforeAll, beforeEach, inject } from 'vitest'
import type { BffDeps } from '../../src/app.js'
import type { BffOptions } from '../../src/config/schema.js'
import { RedisSessionStore } from '../../src/store/redis-session-store.js'
import { reserveBrokerUrl, startBroker, type TestBroker } from './broker.js'
import { type EchoUpstream, startEchoUpstream } from './echo-upstream.js'
import { HttpBrowser } from './http-browser.js'
import { type Script, type ScriptedProvider, startScriptedProvider } from './scripted-provider.js'

export interface ScriptedSetup {
  provider: ScriptedProvider
  upstream: EchoUpstream
  broker: TestBroker
  /** Starts a sign-in and follows it to the broker's callback answer. */
  signIn(
    browser?: HttpBrowser,
    returnTo?: string,
  ): Promise<{ browser: HttpBrowser; response: Response }>
  /** Session keys currently in this broker's Redis namespace. */
  sessionKeys(): Promise<string[]>
  apiCall(
    browser: HttpBrowser,
    path: string,
    init?: RequestInit & { csrf?: boolean },
  ): Promise<Response>
  /**
   * Another broker instance on the same provider, upstream and Redis keys (rotation tests:
   * other cookie secrets or token keys). Stopped after the suite.
   */
  sibling(options: Partial<BffOptions>): Promise<TestBroker>
}

/**
 * Registers vitest hooks that start a scripted (hostile on demand) provider, an echo
 * upstream at /api/echo (also at /api/echo-stream, a route that streams request bodies, and
 * /api/echo-tenant, which forwards X-Tenant-Id too), and a broker on real Redis. The returned object fills in
 * during beforeAll; the provider's script is reset before each test.
 */
export function useScriptedBroker(
  options: Partial<BffOptions> = {},
  deps: BffDeps = {},
  /** Provider script in force while the broker starts (e.g. discovery metadata). */
  initialScript: Script = {},
  /** More /api routes, beside the standard ones, given the echo upstream's URL. */
  moreRoutes: (upstream: string) => NonNullable<BffOptions['apiRoutes']> = () => [],
): ScriptedSetup {
  const setup = {} as ScriptedSetup
  const siblings: TestBroker[] = []
  beforeAll(async () => {
    setup.provider = await startScriptedProvider({ clientId: 'bff-client' })
    setup.provider.script = { ...initialScript }
    setup.upstream = await startEchoUpstream()
    const address = await reserveBrokerUrl()
    setup.broker = await startBroker(
      address,
      {
        issuer: setup.provider.issuer,
        clientId: 'bff-client',
        clientSecret: 'scripted-secret',
        apiRoutes: [
          { prefix: '/api/echo', upstream: setup.upstream.url },
          // The same upstream with route options: bodies streamed, one more forwarded header.
          { prefix: '/api/echo-stream', upstream: setup.upstream.url, stream: true },
          {
            prefix: '/api/echo-tenant',
            upstream: setup.upstream.url,
            forwardHeaders: ['x-tenant-id'],
          },
          // Nothing listens on port 1: the unreachable upstream.
          { prefix: '/api/down', upstream: 'http://127.0.0.1:1' },
          ...moreRoutes(setup.upstream.url),
        ],
        ...options,
      },
      deps,
    )
    setup.signIn = async (browser = new HttpBrowser(), returnTo) => {
      const url = new URL('/auth/login', setup.broker.url)
      if (returnTo) url.searchParams.set('returnTo', returnTo)
      const response = await browser.follow(url.href, { initiator: setup.broker.url })
      return { browser, response }
    }
    setup.sibling = async (overrides) => {
      const { config } = setup.broker.bff
      const store = new RedisSessionStore({
        url: inject('redisUrl'),
        keyPrefix: setup.broker.store.keyPrefix,
      })
      const broker = await startBroker(
        await reserveBrokerUrl(),
        {
          issuer: setup.provider.issuer,
          clientId: 'bff-client',
          clientSecret: 'scripted-secret',
          cookieSecrets: [...config.cookieSecrets],
          tokenEncryptionKeys: [...config.tokenEncryptionKeys],
          apiRoutes: [{ prefix: '/api/echo', upstream: setup.upstream.url }],
          ...overrides,
        },
        { ...deps, store },
      )
      siblings.push(broker)
      return broker
    }
    setup.sessionKeys = async () => {
      const store = setup.broker.store
      return store.redis.keys(`${store.keyPrefix}session:*`)
    }
    setup.apiCall = (browser, path, init = {}) => {
      const { csrf = true, ...rest } = init
      const headers = new Headers(rest.headers)
      if (csrf) headers.set('x-csrf', '1')
      return browser.request(`${setup.broker.url}${path}`, {
        kind: 'fetch',
        initiator: setup.broker.url,
        ...rest,
        headers,
      })
    }
  })
  beforeEach(() => {
    setup.provider?.reset()
    if (setup.upstream) {
      setup.upstream.requests.length = 0
      delete setup.upstream.handler
    }
  })
  afterAll(async () => {
    for (const broker of siblings) await broker.stop()
    await setup.broker?.stop()
    await setup.upstream?.stop()
    await setup.provider?.stop()
  })
  return setup
}
