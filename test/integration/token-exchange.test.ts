import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEV_TOKEN_EXCHANGE_GRANT } from '../../demo/provider/dev-token-exchange.js'
import type { BffDeps } from '../../src/app.js'
import { errorCodes } from '../../src/errors/codes.js'
import { exchangeKey, FRESH_SUBJECT_MS } from '../../src/session/token-exchange.js'
import { tokenFor } from '../../src/session/tokens.js'
import {
  apiCallTo,
  type BrokerCluster,
  CLUSTER_AUDIENCE,
  startBrokerCluster,
} from '../support/broker-cluster.js'
import { until } from '../support/until.js'

const REPORTS = 'http://reports-api.test'
/** An RFC 8693 logical audience (not a URI); the provider knows it, its demo API checks it. */
const LEDGER = 'ledger-api'
const CONCURRENT = 30
/** The provider's tokens live 60 s; with the 60 s buffer they are due at half life. */
const PAST_HALF_LIFE = 40_000
/** Past FRESH_SUBJECT_MS, still before half life: a refused subject token is refreshed to retry. */
const SUBJECT_AGED = FRESH_SUBJECT_MS + 5_000

/** Provider answers injected at the network, for exchanges only (everything else is real). */
interface Faults {
  /** The next this many exchanges are answered 400 with `refuseWith` (a refused subject token). */
  refuseSubject: number
  refuseWith: 'invalid_grant' | 'invalid_request'
  /** Refresh-token grants are answered 429 (throttled: transient, and not against the circuit). */
  refreshDown: boolean
  /** Exchanges are answered 503 (an outage). */
  down: boolean
  /** Exchanges are answered 200 with a refresh token instead of an access token. */
  wrongType: boolean
  /** The next exchange waits for this before it is sent to the provider; then it is cleared. */
  hold?: Promise<void> | undefined
  /** Exchanges that have waited for `hold`. */
  held: number
}

/**
 * Provider answers injected at the network, for exchanges only; every token the broker asks
 * the provider to revoke (RFC 7009) is noted in `revoked`.
 */
function exchangeFaults(faults: Faults, revoked: string[]): NonNullable<BffDeps['providerFetch']> {
  return (url, options) => {
    const body = String((options as { body?: unknown }).body ?? '')
    if (String(url).includes('/revocation')) {
      revoked.push(new URLSearchParams(body).get('token') ?? '')
    }
    const exchange = body.includes(`grant_type=${encodeURIComponent(DEV_TOKEN_EXCHANGE_GRANT)}`)
    const json = { 'content-type': 'application/json' }
    const hold = exchange ? faults.hold : undefined
    if (hold) {
      faults.hold = undefined
      faults.held++
      return hold.then(() => fetch(url, options as RequestInit))
    }
    if (faults.refreshDown && body.includes('grant_type=refresh_token')) {
      return Promise.resolve(new Response('{"error":"slow_down"}', { status: 429, headers: json }))
    }
    if (exchange && faults.down) {
      return Promise.resolve(
        new Response('{"error":"temporarily_unavailable"}', { status: 503, headers: json }),
      )
    }
    if (exchange && faults.wrongType) {
      const issued = 'urn:ietf:params:oauth:token-type:refresh_token'
      return Promise.resolve(
        new Response(
          JSON.stringify({ access_token: 'r-1', token_type: 'Bearer', issued_token_type: issued }),
          { status: 200, headers: json },
        ),
      )
    }
    if (exchange && faults.refuseSubject > 0) {
      faults.refuseSubject--
      return Promise.resolve(
        new Response(
          JSON.stringify({ error: faults.refuseWith, error_description: 'subject token revoked' }),
          { status: 400, headers: json },
        ),
      )
    }
    return fetch(url, options as RequestInit)
  }
}

/*
 * RFC 8693 token exchange routes against a real oidc-provider (its dev-only exchange grant,
 * which verifies the subject token), two broker instances on one Redis, and demo APIs that
 * verify the JWT they get, audience included.
 */
describe('token exchange routes across two instances', { timeout: 120_000 }, () => {
  const faults: Faults = {
    refuseSubject: 0,
    refuseWith: 'invalid_grant',
    refreshDown: false,
    down: false,
    wrongType: false,
    held: 0,
  }
  const revoked: string[] = []
  let cluster: BrokerCluster

  beforeAll(async () => {
    cluster = await startBrokerCluster(
      2,
      ({ api, apis }) => ({
        resource: CLUSTER_AUDIENCE,
        apiRoutes: [
          { prefix: '/api/demo', upstream: api.url },
          {
            prefix: '/api/reports',
            upstream: apis[REPORTS]?.url ?? '',
            resource: REPORTS,
            grant: 'token_exchange',
          },
          {
            prefix: '/api/ledger',
            upstream: apis[LEDGER]?.url ?? '',
            audience: LEDGER,
            grant: 'token_exchange',
          },
          // The same audience as /api/reports, by the refresh grant: a token of its own.
          {
            prefix: '/api/reports-refreshed',
            upstream: apis[REPORTS]?.url ?? '',
            resource: REPORTS,
          },
          {
            prefix: '/api/unknown',
            upstream: api.url,
            audience: 'unknown-api',
            grant: 'token_exchange',
          },
        ],
      }),
      { audiences: [REPORTS, LEDGER], providerFetch: exchangeFaults(faults, revoked) },
    )
    startupEvents = cluster.provider.events.length
  })
  afterAll(async () => {
    await cluster?.stop()
  })

  let startupEvents = 0
  const instance = (i: number) => cluster.instance(i)
  const events = () => cluster.provider.events.slice(startupEvents)
  const grants = (grantType: string, target?: string) => cluster.grants(grantType, target)
  const exchanges = (target?: string) => grants(DEV_TOKEN_EXCHANGE_GRANT, target)
  const grantErrors = () => events().filter((e) => e.type === 'grant.error')
  const bearerAt = (audience: string) => cluster.apis[audience]?.lastBearer() ?? ''

  async function burst(cookie: string, path: string, count = CONCURRENT) {
    return Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const response = await apiCallTo(instance(i), cookie, `${path}/${i}`)
        return { status: response.status, body: (await response.json()) as { sub?: string } }
      }),
    )
  }

  it(`${CONCURRENT} concurrent first calls on two instances: one exchange, a JWT for the route's resource and the user`, async () => {
    const cookie = await cluster.signIn('bob')
    const refreshes = grants('refresh_token')
    const before = exchanges(REPORTS)
    const results = await burst(cookie, '/api/reports/first')
    expect(results.filter((r) => r.status !== 200)).toEqual([])
    expect(exchanges(REPORTS) - before).toBe(1)
    // An exchange spends no refresh token (the user's own token was fresh).
    expect(grants('refresh_token')).toBe(refreshes)
    expect(new Set(results.map((r) => r.body.sub))).toEqual(new Set(['bob']))
    expect(decodeJwt(bearerAt(REPORTS))).toMatchObject({
      aud: REPORTS,
      sub: 'bob',
      client_id: cluster.provider.clientId,
    })
    expect(grantErrors()).toEqual([])
  })

  it('names an RFC 8693 audience: the upstream gets a JWT whose aud is that name', async () => {
    const cookie = await cluster.signIn('alice')
    const before = exchanges(LEDGER)
    const results = await burst(cookie, '/api/ledger/first', 10)
    expect(results.filter((r) => r.status !== 200)).toEqual([])
    expect(exchanges(LEDGER) - before).toBe(1)
    expect(decodeJwt(bearerAt(LEDGER))).toMatchObject({ aud: LEDGER, sub: 'alice' })
  })

  it('reuses the exchanged token until near expiry, then exchanges once more with the refreshed user token', async () => {
    const cookie = await cluster.signIn('alice')
    expect((await burst(cookie, '/api/reports/warm', 5)).every((r) => r.status === 200)).toBe(true)
    const first = bearerAt(REPORTS)
    const before = exchanges(REPORTS)
    const refreshes = grants('refresh_token')
    expect((await burst(cookie, '/api/reports/again')).every((r) => r.status === 200)).toBe(true)
    expect(exchanges(REPORTS)).toBe(before)
    expect(bearerAt(REPORTS)).toBe(first)

    // Both the user's token and the exchanged one are due now.
    cluster.advance(PAST_HALF_LIFE)
    const marker = events().length
    const results = await burst(cookie, '/api/reports/due')
    expect(results.filter((r) => r.status !== 200)).toEqual([])
    expect(exchanges(REPORTS) - before).toBe(1)
    expect(grants('refresh_token') - refreshes).toBe(1)
    // The subject token was refreshed before it was exchanged.
    const order = events()
      .slice(marker)
      .filter((e) => e.type === 'grant.success')
      .map((e) => e.grantType)
    expect(order).toEqual(['refresh_token', DEV_TOKEN_EXCHANGE_GRANT])
    expect(bearerAt(REPORTS)).not.toBe(first)
    expect(decodeJwt(bearerAt(REPORTS))).toMatchObject({ aud: REPORTS, sub: 'alice' })
    expect(grantErrors()).toEqual([])
  })

  it('a refusal (invalid_target) answers 403 token_exchange_forbidden and keeps the session', async () => {
    const cookie = await cluster.signIn('bob')
    const response = await apiCallTo(instance(1), cookie, '/api/unknown/x')
    expect(response.status).toBe(403)
    expect(response.headers.get('set-cookie')).toBeNull()
    expect(await response.json()).toMatchObject({
      error: 'token_exchange_forbidden',
      message: errorCodes.token_exchange_forbidden.message,
    })
    expect(grantErrors().at(-1)).toMatchObject({
      grantType: DEV_TOKEN_EXCHANGE_GRANT,
      audience: 'unknown-api',
      error: 'invalid_target',
    })
    expect((await apiCallTo(instance(0), cookie, '/api/demo/still')).status).toBe(200)
    expect((await apiCallTo(instance(0), cookie, '/api/reports/still')).status).toBe(200)
  })

  it('a refused subject token (invalid_grant) is refreshed once and exchanged again', async () => {
    const cookie = await cluster.signIn('alice')
    cluster.advance(SUBJECT_AGED)
    const refreshes = grants('refresh_token')
    const before = exchanges(REPORTS)
    faults.refuseSubject = 1
    expect((await apiCallTo(instance(0), cookie, '/api/reports/revoked')).status).toBe(200)
    expect(faults.refuseSubject).toBe(0)
    expect(grants('refresh_token') - refreshes).toBe(1)
    expect(exchanges(REPORTS) - before).toBe(1)
  })

  it('a just-refreshed subject token refused again: 403, session kept', async () => {
    const cookie = await cluster.signIn('alice')
    cluster.advance(SUBJECT_AGED)
    faults.refuseSubject = 2
    const response = await apiCallTo(instance(0), cookie, '/api/reports/refused')
    expect(response.status).toBe(403)
    expect((await response.json()).error).toBe('token_exchange_forbidden')
    expect(faults.refuseSubject).toBe(0)
    expect((await apiCallTo(instance(1), cookie, '/api/demo/still')).status).toBe(200)
  })

  it('a refused subject token whose refresh is refused too ends the session: 401 session_expired', async () => {
    const cookie = await cluster.signIn('bob')
    // The user's grant is revoked at the provider (an admin, a logout elsewhere).
    const { session } = await cluster.storedSession(cookie)
    const refresh = await cluster.provider.provider.RefreshToken.find(
      session?.tokens.refreshToken ?? '',
    )
    expect(refresh).toBeDefined()
    await (await cluster.provider.provider.Grant.find(refresh?.grantId ?? ''))?.destroy()
    cluster.advance(SUBJECT_AGED)
    faults.refuseSubject = 1
    const response = await apiCallTo(instance(1), cookie, '/api/reports/dead')
    expect(response.status).toBe(401)
    expect((await response.json()).error).toBe('session_expired')
    expect(response.headers.get('set-cookie')).toContain('__Host-bff-session=;')
    expect((await apiCallTo(instance(0), cookie, '/api/demo/gone')).status).toBe(401)
  })

  it('RFC 8693 invalid_request for the subject token: refreshed once; a fresh one refused again is 502 token_exchange_refused', async () => {
    const cookie = await cluster.signIn('bob')
    cluster.advance(SUBJECT_AGED)
    const refreshes = grants('refresh_token')
    faults.refuseWith = 'invalid_request'
    faults.refuseSubject = 2
    try {
      const response = await apiCallTo(instance(0), cookie, '/api/reports/invalid-request')
      expect(response.status).toBe(502)
      expect((await response.json()).error).toBe('token_exchange_refused')
    } finally {
      faults.refuseWith = 'invalid_grant'
    }
    expect(faults.refuseSubject).toBe(0)
    expect(grants('refresh_token') - refreshes).toBe(1)
    expect((await apiCallTo(instance(1), cookie, '/api/demo/still')).status).toBe(200)
  })

  it('a just-obtained subject token refused is not refreshed to retry: 403, no refresh', async () => {
    const cookie = await cluster.signIn('alice')
    const refreshes = grants('refresh_token')
    faults.refuseSubject = 1
    const response = await apiCallTo(instance(0), cookie, '/api/reports/young')
    expect(response.status).toBe(403)
    expect(faults.refuseSubject).toBe(0)
    expect(grants('refresh_token')).toBe(refreshes)
  })

  it('refuses an answer that is not an access token: 502 token_exchange_refused, nothing forwarded', async () => {
    const cookie = await cluster.signIn('alice')
    const forwarded = cluster.apis[LEDGER]?.requests().length
    faults.wrongType = true
    try {
      const response = await apiCallTo(instance(0), cookie, '/api/ledger/wrong-type')
      expect(response.status).toBe(502)
      expect((await response.json()).error).toBe('token_exchange_refused')
    } finally {
      faults.wrongType = false
    }
    expect(cluster.apis[LEDGER]?.requests().length).toBe(forwarded)
    expect((await apiCallTo(instance(0), cookie, '/api/ledger/right-type')).status).toBe(200)
  })

  it('keeps an exchanged token to its own route: each upstream gets a token for its audience only', async () => {
    const cookie = await cluster.signIn('bob')
    const refreshedBefore = grants('refresh_token', REPORTS)
    for (const [path, audience] of [
      ['/api/ledger/a', LEDGER],
      ['/api/reports/a', REPORTS],
      ['/api/demo/a', CLUSTER_AUDIENCE],
      ['/api/reports-refreshed/a', REPORTS],
      ['/api/ledger/b', LEDGER],
      ['/api/reports/b', REPORTS],
    ] as const) {
      const response = await apiCallTo(instance(0), cookie, path)
      expect(response.status, path).toBe(200)
      const bearer =
        audience === CLUSTER_AUDIENCE ? (cluster.api.lastBearer() ?? '') : bearerAt(audience)
      expect(decodeJwt(bearer).aud, path).toBe(audience)
      // Cookies never pass upstream, and no header of the answer carries the token.
      const body = (await response.json()) as { receivedHeaders: Record<string, string> }
      expect(body.receivedHeaders.cookie).toBeUndefined()
      expect(body.receivedHeaders['x-csrf']).toBeUndefined()
      expect([...response.headers.values()].join('\n')).not.toContain(bearer.split('.')[1])
    }
    // The refresh-grant route got a token of its own (by a refresh naming the resource), not
    // the exchanged one for the same resource.
    expect(grants('refresh_token', REPORTS) - refreshedBefore).toBe(1)
    const { session } = await cluster.storedSession(cookie)
    const held = session?.tokens.resources ?? {}
    expect(Object.keys(held).sort()).toEqual(
      [
        REPORTS,
        exchangeKey({ resource: REPORTS, audience: undefined }),
        exchangeKey({ resource: undefined, audience: LEDGER }),
      ].sort(),
    )
    expect(held[REPORTS]?.accessToken).not.toBe(
      held[exchangeKey({ resource: REPORTS, audience: undefined })]?.accessToken,
    )
  })

  it('stores the exchanged token encrypted: the raw Redis value holds no usable token', async () => {
    const cookie = await cluster.signIn('alice')
    expect((await apiCallTo(instance(0), cookie, '/api/ledger/secret')).status).toBe(200)
    const bearer = bearerAt(LEDGER)
    const { key } = await cluster.storedSession(cookie)
    const store = instance(0).store
    const raw = (await store.redis.hget(store.redisKeyOfSession(key), 'd')) ?? ''
    expect(raw).not.toContain(bearer.split('.')[1])
    expect(raw).toContain('v1.1.')
  })

  it('signing out revokes every token the session holds: its own, and each for another audience', async () => {
    const cookie = await cluster.signIn('alice')
    for (const path of ['/api/reports/mine', '/api/ledger/mine', '/api/reports-refreshed/mine']) {
      expect((await apiCallTo(instance(1), cookie, path)).status, path).toBe(200)
    }
    const { session } = await cluster.storedSession(cookie)
    const others = Object.values(session?.tokens.resources ?? {}).map((t) => t.accessToken)
    expect(others).toHaveLength(3)
    revoked.length = 0
    const logout = await fetch(`${instance(0).url}/auth/logout`, {
      method: 'POST',
      headers: { cookie, origin: cluster.publicUrl, 'sec-fetch-site': 'same-origin' },
      redirect: 'manual',
    })
    expect(logout.status).toBeLessThan(400)
    expect(revoked.sort()).toEqual(
      [session?.tokens.refreshToken, session?.tokens.accessToken, ...others].sort(),
    )
  })

  it('a refused subject token whose refresh fails for now: 503, the refused token never sent again, session kept', async () => {
    const cookie = await cluster.signIn('bob')
    cluster.advance(SUBJECT_AGED)
    const before = exchanges(REPORTS)
    faults.refuseSubject = 1
    faults.refreshDown = true
    try {
      const response = await apiCallTo(instance(0), cookie, '/api/reports/blip')
      expect(response.status).toBe(503)
      expect((await response.json()).error).toBe('provider_unavailable')
      expect(response.headers.get('set-cookie')).toBeNull()
    } finally {
      faults.refreshDown = false
    }
    expect(faults.refuseSubject).toBe(0)
    expect(exchanges(REPORTS)).toBe(before)
  })

  it('an exchange answered while another instance rotates the refresh token keeps the rotated one: the exchanged token is merged into the token set as it is then', async () => {
    const cookie = await cluster.signIn('alice')
    const signedIn = (await cluster.storedSession(cookie)).session
    const errorsBefore = grantErrors().length
    let release = () => {}
    faults.hold = new Promise<void>((resolve) => {
      release = resolve
    })
    const heldBefore = faults.held
    const exchanged = apiCallTo(instance(0), cookie, '/api/ledger/race')
    await until(() => faults.held > heldBefore, 'the exchange to reach the provider')
    // While the exchange is at the provider, the user's token falls due and instance 1
    // refreshes it: the provider rotates the refresh token and spends the old one.
    cluster.advance(PAST_HALF_LIFE)
    expect((await apiCallTo(instance(1), cookie, '/api/demo/rotate')).status).toBe(200)
    const rotated = (await cluster.storedSession(cookie)).session?.tokens.refreshToken
    expect(rotated).toBeDefined()
    expect(rotated).not.toBe(signedIn?.tokens.refreshToken)
    release()
    expect((await exchanged).status).toBe(200)
    const after = (await cluster.storedSession(cookie)).session
    expect(after?.tokens.refreshToken).toBe(rotated)
    expect(
      after && tokenFor(after.tokens, exchangeKey({ resource: undefined, audience: LEDGER })),
    ).toBeDefined()
    // The session can still refresh: its refresh token is the live one, not the spent one.
    cluster.advance(PAST_HALF_LIFE)
    const refreshes = grants('refresh_token')
    expect((await apiCallTo(instance(0), cookie, '/api/demo/after')).status).toBe(200)
    expect(grants('refresh_token')).toBe(refreshes + 1)
    expect(grantErrors().slice(errorsBefore)).toEqual([])
  })

  // Last: a 503 opens the provider's circuit for the cluster.
  it('an outage keeps the session: 503 provider_unavailable with Retry-After', async () => {
    const cookie = await cluster.signIn('bob')
    faults.down = true
    try {
      const response = await apiCallTo(instance(0), cookie, '/api/ledger/down')
      expect(response.status).toBe(503)
      expect(response.headers.get('retry-after')).not.toBeNull()
      expect((await response.json()).error).toBe('provider_unavailable')
      expect(response.headers.get('set-cookie')).toBeNull()
      expect((await apiCallTo(instance(1), cookie, '/api/demo/up')).status).toBe(200)
    } finally {
      faults.down = false
    }
  })
})
