import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  apiCallTo,
  type BrokerCluster,
  CLUSTER_AUDIENCE,
  startBrokerCluster,
} from '../support/broker-cluster.js'

const REPORTS = 'http://reports-api.test'
const CONCURRENT = 50
/** The provider's tokens live 60 s; with the 60 s buffer they are due at half life. */
const PAST_HALF_LIFE = 40_000

/*
 * Tokens other than the user's own, against a real oidc-provider (client credentials on,
 * resource indicators for two audiences, refresh-token rotation that revokes the grant on
 * reuse) and two broker instances on one Redis. Each upstream is a demo API that verifies the
 * JWT it gets, audience included.
 */
describe('upstream tokens across two instances', { timeout: 120_000 }, () => {
  let cluster: BrokerCluster

  beforeAll(async () => {
    cluster = await startBrokerCluster(
      2,
      ({ api, apis }) => ({
        resource: CLUSTER_AUDIENCE,
        apiRoutes: [
          { prefix: '/api/demo', upstream: api.url },
          {
            prefix: '/api/machine',
            upstream: api.url,
            token: 'client',
            clientScopes: ['api:read'],
          },
          { prefix: '/api/reports', upstream: apis[REPORTS]?.url ?? '', resource: REPORTS },
        ],
      }),
      { audiences: [REPORTS] },
    )
    startupEvents = cluster.provider.events.length
  })
  afterAll(async () => {
    await cluster?.stop()
  })

  const instance = (i: number) => cluster.instance(i)
  const grants = (grantType: string, resource?: string) => cluster.grants(grantType, resource)
  /** Grant errors after the instances started (each makes one client check: an invalid_grant). */
  let startupEvents = 0
  const grantErrors = () =>
    cluster.provider.events.slice(startupEvents).filter((e) => e.type === 'grant.error')

  async function burst(cookie: string, path: string, count = CONCURRENT) {
    return Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const response = await apiCallTo(instance(i), cookie, `${path}/${i}`)
        return { status: response.status, body: (await response.json()) as { sub?: string } }
      }),
    )
  }

  async function storedRaw(cookie: string) {
    const { key } = await cluster.storedSession(cookie)
    const store = instance(0).store
    return { key, raw: (await store.redis.hget(store.redisKeyOfSession(key), 'd')) ?? '' }
  }

  describe('token: client', () => {
    it(`${CONCURRENT} concurrent requests on two instances with no client token yet: one client credentials grant`, async () => {
      const cookie = await cluster.signIn('alice')
      const results = await burst(cookie, '/api/machine/first')
      const fetched = grants('client_credentials')
      console.log(`client token, first use: ${CONCURRENT} requests, ${fetched} grant(s)`)
      expect(fetched).toBe(1)
      expect(results.filter((r) => r.status !== 200)).toEqual([])
      // Every request went out with the broker's token: its subject is the client.
      expect(new Set(results.map((r) => r.body.sub))).toEqual(new Set([cluster.provider.clientId]))
    })

    it('forwards the broker’s own token (a JWT for the client, not the user) and not the user’s', async () => {
      const cookie = await cluster.signIn('alice')
      expect((await apiCallTo(instance(1), cookie, '/api/machine/who')).status).toBe(200)
      const claims = decodeJwt(cluster.api.lastBearer() ?? '')
      expect(claims).toMatchObject({
        sub: cluster.provider.clientId,
        client_id: cluster.provider.clientId,
        aud: CLUSTER_AUDIENCE,
        scope: 'api:read',
      })
      expect((await apiCallTo(instance(1), cookie, '/api/demo/who')).status).toBe(200)
      expect(decodeJwt(cluster.api.lastBearer() ?? '').sub).toBe('alice')
    })

    it('is shared until near expiry, then exactly one new grant across both instances', async () => {
      const cookie = await cluster.signIn('bob')
      const before = grants('client_credentials')
      expect((await burst(cookie, '/api/machine/warm')).every((r) => r.status === 200)).toBe(true)
      expect(grants('client_credentials')).toBe(before)
      const old = cluster.api.lastBearer()
      cluster.advance(PAST_HALF_LIFE)
      const results = await burst(cookie, '/api/machine/due')
      expect(results.filter((r) => r.status !== 200)).toEqual([])
      const renewed = grants('client_credentials') - before
      console.log(`client token, near expiry: ${CONCURRENT} requests, ${renewed} new grant(s)`)
      expect(renewed).toBe(1)
      expect(cluster.api.lastBearer()).not.toBe(old)
    })

    it('is never fetched for a request without a session: 401', async () => {
      const before = grants('client_credentials')
      const response = await apiCallTo(instance(0), '', '/api/machine/anonymous')
      expect(response.status).toBe(401)
      expect(grants('client_credentials')).toBe(before)
    })

    it('is stored encrypted: the raw Redis value holds no usable token', async () => {
      const store = instance(0).store
      const keys = await store.redis.keys(`${store.keyPrefix}token:*`)
      expect(keys).toHaveLength(1)
      const raw = (await store.redis.get(keys[0] as string)) ?? ''
      const bearer = cluster.api.lastBearer() ?? ''
      expect(bearer.length).toBeGreaterThan(100)
      expect(raw).not.toContain(bearer)
      expect(raw).not.toContain(bearer.split('.')[1])
      expect((JSON.parse(raw) as { accessToken: string }).accessToken).toMatch(/^v1\.1\./)
    })
  })

  describe('resource', () => {
    it('concurrent first use on two instances: one refresh grant naming the resource, a token for that audience', async () => {
      const cookie = await cluster.signIn('bob')
      const before = grants('refresh_token')
      const results = await burst(cookie, '/api/reports/first')
      const spent = grants('refresh_token') - before
      console.log(`resource token, first use: ${CONCURRENT} requests, ${spent} refresh grant(s)`)
      expect(spent).toBe(1)
      // The reports API verifies the audience: every 200 is a token for it.
      expect(results.filter((r) => r.status !== 200)).toEqual([])
      expect(new Set(results.map((r) => r.body.sub))).toEqual(new Set(['bob']))
      expect(grants('refresh_token', REPORTS)).toBeGreaterThanOrEqual(1)
      const claims = decodeJwt(cluster.apis[REPORTS]?.lastBearer() ?? '')
      expect(claims).toMatchObject({ aud: REPORTS, sub: 'bob' })
      expect(grantErrors()).toEqual([])
    })

    it('keeps the user’s own token and refresh working: rotation is shared, never a reused refresh token', async () => {
      const cookie = await cluster.signIn('alice')
      expect((await burst(cookie, '/api/reports/a', 10)).every((r) => r.status === 200)).toBe(true)
      expect((await apiCallTo(instance(0), cookie, '/api/demo/own')).status).toBe(200)
      expect(decodeJwt(cluster.api.lastBearer() ?? '').aud).toBe(CLUSTER_AUDIENCE)
      for (let cycle = 1; cycle <= 5; cycle++) {
        const own = grants('refresh_token', CLUSTER_AUDIENCE)
        const reports = grants('refresh_token', REPORTS)
        cluster.advance(PAST_HALF_LIFE)
        // Both tokens due at once, on both instances: the session's one lock orders them.
        const results = [
          ...(await Promise.all([
            burst(cookie, `/api/demo/c${cycle}`, 20),
            burst(cookie, `/api/reports/c${cycle}`, 20),
          ])),
        ].flat()
        expect(results.filter((r) => r.status !== 200)).toEqual([])
        expect(grants('refresh_token', CLUSTER_AUDIENCE) - own).toBe(1)
        expect(grants('refresh_token', REPORTS) - reports).toBe(1)
      }
      expect(grantErrors()).toEqual([])
    })

    it('is stored encrypted inside the session: the raw Redis value holds no usable token', async () => {
      const cookie = await cluster.signIn('bob')
      expect((await apiCallTo(instance(0), cookie, '/api/reports/secret')).status).toBe(200)
      const bearer = cluster.apis[REPORTS]?.lastBearer() ?? ''
      const { raw } = await storedRaw(cookie)
      expect(raw).not.toContain(bearer)
      expect(raw).not.toContain(bearer.split('.')[1])
      const stored = JSON.parse(raw) as {
        tokens: { resources: Record<string, { accessToken: string }> }
      }
      expect(stored.tokens.resources[REPORTS]?.accessToken).toMatch(/^v1\.1\./)
      // Readable only with the key, and bound to this session: it opens to the bearer sent.
      const opened = await cluster.storedSession(cookie)
      expect(opened.session?.tokens.resources?.[REPORTS]?.accessToken).toBe(bearer)
    })
  })
})
