import { inject } from 'vitest'
import { type DemoApi, startDemoApi } from '../../demo/api/create-demo-api.js'
import type { BffDeps } from '../../src/app.js'
import type { BffOptions } from '../../src/config/schema.js'
import { randomId } from '../../src/lib/random.js'
import { RedisSessionStore } from '../../src/store/redis-session-store.js'
import {
  reserveBrokerUrl,
  startBroker,
  storedSessionOf,
  type TestBroker,
  testCookieSecrets,
  testTokenKeys,
} from './broker.js'
import { HttpBrowser } from './http-browser.js'
import { startTestProvider, type TestProvider, type TestProviderOptions } from './provider.js'

/** Audience of the cluster's demo API (the user's own token is for it). */
export const CLUSTER_AUDIENCE = 'http://cluster-api.test'

export interface ClusterExtras {
  /** More audiences the provider issues tokens for, each with a demo API that checks it. */
  audiences?: string[]
  provider?: Partial<TestProviderOptions>
  /** Outgoing HTTP to the provider, for every instance (fault injection at the network). */
  providerFetch?: BffDeps['providerFetch']
}

export interface BrokerCluster {
  provider: TestProvider
  api: DemoApi
  /** A demo API per extra audience, by audience. */
  apis: Record<string, DemoApi>
  /** Several broker instances behind one public URL, one Redis, separate connections. */
  instances: TestBroker[]
  publicUrl: string
  /** Refresh outcomes reported by all instances' metrics hooks. */
  refreshOutcomes: Record<string, number>
  lockWaits: number[]
  /** Moves every instance's clock (tokens fall due without sleeping). */
  advance(ms: number): void
  /** Signs a user in through instance 0 and returns the cookie header for all instances. */
  signIn(username?: string): Promise<string>
  /** The i-th instance, round robin. */
  instance(i: number): TestBroker
  /**
   * Successful grants of a type at the provider since the cluster started, optionally only those
   * for a target (their resource or audience).
   */
  grants(grantType: string, target?: string): number
  /** The stored session a cookie header (from signIn) names, and its store key. */
  storedSession(cookie: string): ReturnType<typeof storedSessionOf>
  stop(): Promise<void>
}

/**
 * A real oidc-provider (refresh-token rotation on, reuse revokes the grant), the demo API,
 * and `count` broker instances that share configuration, cookie secrets and a Redis key
 * prefix, as they would behind a load balancer.
 */
export async function startBrokerCluster(
  count: number,
  options:
    | Partial<BffOptions>
    | ((apis: { api: DemoApi; apis: Record<string, DemoApi> }) => Partial<BffOptions>) = {},
  extras: ClusterExtras = {},
): Promise<BrokerCluster> {
  const addresses = await Promise.all(Array.from({ length: count }, () => reserveBrokerUrl()))
  const first = addresses[0]
  if (!first) throw new Error('a cluster needs at least one instance')
  const publicUrl = first.url
  const audiences = extras.audiences ?? []
  const provider = await startTestProvider({
    publicHost: 'localhost',
    redirectUri: `${publicUrl}/auth/callback`,
    apiAudience: CLUSTER_AUDIENCE,
    moreAudiences: audiences,
    ...extras.provider,
  })
  const demoApi = (audience: string) =>
    startDemoApi({ issuer: provider.issuer, jwksUri: provider.jwksUri, audience })
  const api = await demoApi(CLUSTER_AUDIENCE)
  const apis: Record<string, DemoApi> = {}
  for (const audience of audiences) apis[audience] = await demoApi(audience)
  const more = typeof options === 'function' ? options({ api, apis }) : options
  let offset = 0
  const clock = { now: () => Date.now() + offset }
  const cookieSecrets = testCookieSecrets()
  const tokenEncryptionKeys = testTokenKeys()
  const keyPrefix = `cluster-${randomId(6)}:`
  const refreshOutcomes: Record<string, number> = {}
  const lockWaits: number[] = []
  const refreshMetrics = {
    outcome: (o: string) => {
      refreshOutcomes[o] = (refreshOutcomes[o] ?? 0) + 1
    },
    lockWaitMs: (ms: number) => {
      lockWaits.push(ms)
    },
  }
  const instances = await Promise.all(
    addresses.map((address) =>
      startBroker(
        address,
        {
          publicUrl,
          issuer: provider.issuer,
          clientId: provider.clientId,
          clientSecret: provider.clientSecret,
          cookieSecrets,
          tokenEncryptionKeys,
          apiRoutes: [{ prefix: '/api/demo', upstream: api.url }],
          // Storms send thousands of requests per session per minute on purpose; the limit
          // itself is tested in test/security/rate-limit.test.ts.
          rateLimitApi: null,
          ...more,
        },
        {
          clock,
          refreshMetrics,
          store: new RedisSessionStore({ url: inject('redisUrl'), keyPrefix }),
          ...(extras.providerFetch ? { providerFetch: extras.providerFetch } : {}),
        },
      ),
    ),
  )
  return {
    provider,
    api,
    apis,
    instances,
    publicUrl,
    refreshOutcomes,
    lockWaits,
    advance(ms) {
      offset += ms
    },
    async signIn(username = 'alice') {
      const browser = new HttpBrowser()
      const { callbackResponse } = await browser.login({
        brokerUrl: publicUrl,
        username,
        password: provider.users[username]?.password ?? '',
      })
      if (callbackResponse.status !== 200)
        throw new Error(`sign-in failed: ${callbackResponse.status}`)
      return browser.cookieHeaderFor(publicUrl)
    },
    instance: (i) => instances[i % instances.length] as TestBroker,
    grants: (grantType, target) =>
      provider.events.filter(
        (e) =>
          e.type === 'grant.success' &&
          e.grantType === grantType &&
          (target === undefined || e.resource === target || e.audience === target),
      ).length,
    storedSession: (cookie) =>
      storedSessionOf(instances[0] as TestBroker, /__Host-bff-session=([^;]+)/.exec(cookie)?.[1]),
    async stop() {
      await Promise.all(instances.map((i) => i.stop()))
      await Promise.all([api, ...Object.values(apis)].map((a) => a.stop()))
      await provider.stop()
    },
  }
}

/** One API call to one instance, as a same-origin fetch of the SPA would make it. */
export function apiCallTo(instance: TestBroker, cookie: string, path: string): Promise<Response> {
  return fetch(`${instance.url}${path}`, { headers: { cookie, 'x-csrf': '1' } })
}
