import * as oidc from 'openid-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { storedSessionOf } from '../support/broker.js'
import { apiCallTo, type BrokerCluster, startBrokerCluster } from '../support/broker-cluster.js'

const TOKEN_EXPIRED = 10 * 60 * 1000
/** providerTimeoutSeconds 1 → refresh lock TTL 3 s, waiters give up after 4 s. */
const LOCK_TTL_MS = 3000

describe('refresh failures across instances', () => {
  let cluster: BrokerCluster

  beforeAll(async () => {
    cluster = await startBrokerCluster(3, { providerTimeoutSeconds: 1 })
  })
  afterAll(async () => {
    await cluster?.stop()
  })

  const first = () => cluster.instances[0] as NonNullable<BrokerCluster['instances'][0]>

  async function session(cookie: string) {
    return storedSessionOf(first(), cookie.replace(/^__Host-bff-session=/, ''))
  }

  /** Spends the session's refresh token at the provider, as a holder that died after its token call would have. */
  async function spendRefreshToken(refreshToken: string) {
    const p = cluster.provider
    const config = await oidc.discovery(
      new URL(p.issuer),
      p.clientId,
      p.clientSecret,
      oidc.ClientSecretBasic(p.clientSecret),
      {
        execute: [oidc.allowInsecureRequests],
      },
    )
    await oidc.refreshTokenGrant(config, refreshToken)
  }

  function burst(cookie: string, n: number, tag: string) {
    return Promise.all(
      Array.from({ length: n }, (_, i) =>
        apiCallTo(cluster.instances[i % 3] as never, cookie, `/api/demo/${tag}/${i}`).then(
          async (r) => ({
            status: r.status,
            error: r.status === 200 ? undefined : ((await r.json()) as { error: string }).error,
          }),
        ),
      ),
    )
  }

  it('answers every waiting request 401 session_expired when the refresh token was reused, sending it once', async () => {
    const cookie = await cluster.signIn()
    const { session: stored } = await session(cookie)
    await spendRefreshToken(stored?.tokens.refreshToken ?? '')
    const before = cluster.provider.counts()
    cluster.advance(TOKEN_EXPIRED)
    const results = await burst(cookie, 30, 'reused')
    expect(results.every((r) => r.status === 401 && r.error === 'session_expired')).toBe(true)
    const after = cluster.provider.counts()
    expect(after.refreshTokenErrors - before.refreshTokenErrors).toBe(1)
    expect(after.refreshTokenGrants).toBe(before.refreshTokenGrants)
    expect((await session(cookie)).session).toBeNull()
  })

  it('answers 503 lock_timeout, not a hang, when the lock holder never finishes', async () => {
    const cookie = await cluster.signIn()
    const { key } = await session(cookie)
    const token = await first().store.acquireLock(`refresh:${key}`, 60_000)
    expect(token).toBeTruthy()
    cluster.advance(TOKEN_EXPIRED)
    const startedAt = Date.now()
    const response = await apiCallTo(cluster.instances[1] as never, cookie, '/api/demo/stuck')
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBeTruthy()
    expect(await response.json()).toMatchObject({ error: 'lock_timeout' })
    expect(Date.now() - startedAt).toBeLessThan(LOCK_TTL_MS + 3000)
    await first().store.releaseLock(`refresh:${key}`, token as string)
    expect((await session(cookie)).session).not.toBeNull()
  })

  it('takes over after the TTL when the holder died before reaching the provider', async () => {
    const cookie = await cluster.signIn()
    const { key } = await session(cookie)
    await first().store.acquireLock(`refresh:${key}`, LOCK_TTL_MS)
    const before = cluster.provider.counts()
    cluster.advance(TOKEN_EXPIRED)
    const results = await burst(cookie, 9, 'orphaned-lock')
    expect(results.map((r) => r.status)).toEqual(Array(9).fill(200))
    expect(cluster.provider.counts().refreshTokenGrants - before.refreshTokenGrants).toBe(1)
  })

  it('ends cleanly with 401 when the holder died after the provider rotated the token', async () => {
    const cookie = await cluster.signIn()
    const { key, session: stored } = await session(cookie)
    await first().store.acquireLock(`refresh:${key}`, LOCK_TTL_MS)
    await spendRefreshToken(stored?.tokens.refreshToken ?? '')
    cluster.advance(TOKEN_EXPIRED)
    const results = await burst(cookie, 9, 'died-after-rotation')
    expect(results.every((r) => r.status === 401 && r.error === 'session_expired')).toBe(true)
  })
})
