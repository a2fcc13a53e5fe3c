import { afterAll, beforeAll, beforeEach } from 'vitest'
import type { BffDeps } from '../../src/app.js'
import type { BffOptions } from '../../src/config/schema.js'
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
}

/**
 * Registers vitest hooks that start a scripted (hostile on demand) provider, an echo
 * upstream at /api/echo, and a broker on real Redis. The returned object fills in
 * during beforeAll; the provider's script is reset before each test.
 */
export function useScriptedBroker(
  options: Partial<BffOptions> = {},
  deps: BffDeps = {},
  /** Provider script in force while the broker starts (e.g. discovery metadata). */
  initialScript: Script = {},
): ScriptedSetup {
  const setup = {} as ScriptedSetup
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
          // Nothing listens on port 1: the unreachable upstream.
          { prefix: '/api/down', upstream: 'http://127.0.0.1:1' },
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
    await setup.broker?.stop()
    await setup.upstream?.stop()
    await setup.provider?.stop()
  })
  return setup
}
