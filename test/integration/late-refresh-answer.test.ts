import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BffDeps } from '../../src/app.js'
import { storedSessionOf } from '../support/broker.js'
import { apiCallTo, type BrokerCluster, startBrokerCluster } from '../support/broker-cluster.js'

const TOKEN_EXPIRED = 10 * 60 * 1000
/** The provider answers refresh grants this late: after the broker's 1 s provider timeout. */
const LATE_MS = 1800

/**
 * A refresh request is on the wire: the provider gets it and answers it whatever the broker
 * does, as a slow network or a stalled provider would. Only the answer reaching the broker
 * honours the broker's abort signal.
 */
function slowRefreshes(state: { slow: boolean }): NonNullable<BffDeps['providerFetch']> {
  return (url, options) => {
    const body = String((options as { body?: unknown }).body ?? '')
    if (!state.slow || !body.includes('grant_type=refresh_token')) {
      return fetch(url, options as RequestInit)
    }
    const { signal, ...rest } = options as RequestInit
    const onWire = new Promise((resolve) => setTimeout(resolve, LATE_MS)).then(() =>
      fetch(url, rest),
    )
    return new Promise<Response>((resolve, reject) => {
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true })
      onWire.then(resolve, reject)
    })
  }
}

/*
 * The real oidc-provider rotates refresh tokens, and a reused one revokes the whole grant. A
 * refresh the broker gave up on, but the provider answered, has spent the old refresh token:
 * sending it again would end the user's session at the provider.
 */
describe('a refresh answered after the broker stopped waiting', () => {
  const state = { slow: false }
  let cluster: BrokerCluster

  beforeAll(async () => {
    cluster = await startBrokerCluster(
      1,
      { providerTimeoutSeconds: 1 },
      { providerFetch: slowRefreshes(state) },
    )
  })
  afterAll(async () => {
    await cluster?.stop()
  })

  it('answers 503 at the timeout, stores the late answer, and never sends the spent refresh token again', async () => {
    const instance = cluster.instances[0] as NonNullable<BrokerCluster['instances'][0]>
    const cookie = await cluster.signIn()
    const sealed = cookie.replace(/^__Host-bff-session=/, '')
    const before = await storedSessionOf(instance, sealed)
    const grantsBefore = cluster.provider.counts().refreshTokenGrants
    state.slow = true
    cluster.advance(TOKEN_EXPIRED)

    const startedAt = performance.now()
    const first = await apiCallTo(instance, cookie, '/api/demo/late')
    const waited = performance.now() - startedAt
    expect(first.status).toBe(503)
    expect(await first.json()).toMatchObject({ error: 'provider_unavailable' })
    expect(waited).toBeLessThan(LATE_MS)

    // The provider's answer arrives after the 503; the broker takes it and stores it.
    await new Promise((resolve) => setTimeout(resolve, LATE_MS))
    state.slow = false
    const after = await storedSessionOf(instance, sealed)
    expect(after.session?.tokens.refreshToken).not.toBe(before.session?.tokens.refreshToken)

    // Retried after Retry-After (the provider's circuit): served with the stored token, and the
    // provider saw exactly one refresh grant, no reuse.
    cluster.advance(Number(first.headers.get('retry-after')) * 1000)
    const retried = await apiCallTo(instance, cookie, '/api/demo/after')
    expect(retried.status).toBe(200)
    expect(cluster.provider.counts().refreshTokenGrants - grantsBefore).toBe(1)
    expect((await storedSessionOf(instance, sealed)).session).not.toBeNull()
  })
})
