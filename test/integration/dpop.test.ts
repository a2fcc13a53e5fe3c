import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DemoApi } from '../../demo/api/create-demo-api.js'
import { createBff } from '../../src/app.js'
import { BffError } from '../../src/errors/bff-error.js'
import { systemClock } from '../../src/lib/clock.js'
import { randomId } from '../../src/lib/random.js'
import { createLogger } from '../../src/observability/logger.js'
import { MemorySessionStore } from '../../src/store/memory-session-store.js'
import { storedSessionOf, type TestBroker } from '../support/broker.js'
import { HttpBrowser } from '../support/http-browser.js'
import type { TestProvider } from '../support/provider.js'
import { type ProviderStack, startProviderStack } from '../support/provider-stack.js'
import { startScriptedProvider } from '../support/scripted-provider.js'
import { until } from '../support/until.js'
import { openWebSocket } from '../support/websocket.js'

/*
 * RFC 9449 against the real dev provider (which requires DPoP nonces here) and the demo API
 * (which verifies proofs with jose, requires its own nonces and refuses replays): the session's
 * tokens are bound to a key only the broker holds.
 */
describe('DPoP (OIDC_DPOP=always)', () => {
  let stack: ProviderStack
  let provider: TestProvider
  let api: DemoApi
  let broker: TestBroker
  let clockOffset = 0
  // An API that asks for a nonce late (after 1 s) and then never answers: see the deadline test.
  let lateNonceApi: Server
  const lateNonceRequests: IncomingMessage[] = []
  // An API that drops the connection of the first request it gets, and answers the rest.
  let droppingApi: Server
  const droppingRequests: IncomingMessage[] = []
  // An API that wants its current nonce in every proof (the tests rotate it), and counts the
  // connections it is sent on; with `endlessRefusal`, its refusal's body never ends.
  let noncedApi: Server
  const nonced = { current: 'n-0', connections: 0, statuses: [] as number[] }
  let endlessRefusal = false
  /** The connection the endless refusal was sent on. */
  const refusal: { socket?: Socket } = {}

  beforeAll(async () => {
    lateNonceApi = createServer((req, res) => {
      if (lateNonceRequests.push(req) > 1) return
      setTimeout(() => {
        res.writeHead(401, {
          'www-authenticate': 'DPoP error="use_dpop_nonce"',
          'dpop-nonce': 'late-nonce',
          'content-length': '0',
        })
        res.end()
      }, 1000)
    })
    await new Promise<void>((resolve) => lateNonceApi.listen(0, '127.0.0.1', resolve))
    const lateNonceUrl = `http://127.0.0.1:${(lateNonceApi.address() as AddressInfo).port}`
    droppingApi = createServer((req, res) => {
      if (droppingRequests.push(req) === 1) return req.socket.destroy()
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
    await new Promise<void>((resolve) => droppingApi.listen(0, '127.0.0.1', resolve))
    const droppingUrl = `http://127.0.0.1:${(droppingApi.address() as AddressInfo).port}`
    noncedApi = createServer((req, res) => {
      if (decodeJwt(String(req.headers.dpop)).nonce === nonced.current) {
        nonced.statuses.push(200)
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
        return
      }
      nonced.statuses.push(401)
      res.writeHead(401, {
        'www-authenticate': 'DPoP error="use_dpop_nonce"',
        'dpop-nonce': nonced.current,
        'content-type': 'application/json',
      })
      if (!endlessRefusal) return res.end('{"error":"use_dpop_nonce"}')
      refusal.socket = req.socket
      const more = setInterval(() => res.write('x'.repeat(1000)), 20)
      res.on('close', () => clearInterval(more))
    })
    noncedApi.on('connection', () => {
      nonced.connections++
    })
    await new Promise<void>((resolve) => noncedApi.listen(0, '127.0.0.1', resolve))
    const noncedUrl = `http://127.0.0.1:${(noncedApi.address() as AddressInfo).port}`
    stack = await startProviderStack({
      provider: { dpopNonces: true },
      api: { dpopNonces: true },
      broker: (upstream) => ({
        dpop: 'always',
        apiRoutes: [
          { prefix: '/api/demo', upstream },
          { prefix: '/api/uploads', upstream, stream: true },
          { prefix: '/api/live', upstream, websocket: true },
          { prefix: '/api/late-nonce', upstream: lateNonceUrl, timeoutSeconds: 2 },
          { prefix: '/api/dropping', upstream: droppingUrl },
          { prefix: '/api/nonced', upstream: noncedUrl },
        ],
      }),
      deps: { clock: { now: () => Date.now() + clockOffset } },
    })
    ;({ provider, api, broker } = stack)
  })

  afterAll(async () => {
    await stack?.stop()
    for (const server of [lateNonceApi, droppingApi, noncedApi]) {
      server?.closeAllConnections()
      await new Promise((resolve) => server?.close(resolve))
    }
  })

  async function signIn() {
    const browser = new HttpBrowser()
    const alice = provider.users.alice
    if (!alice) throw new Error('no dev user alice')
    const { callbackResponse } = await browser.login({
      brokerUrl: broker.url,
      username: 'alice',
      password: alice.password,
    })
    expect(callbackResponse.status).toBe(200)
    const { key, session } = await storedSessionOf(
      broker,
      browser.cookie('__Host-bff-session')?.value,
    )
    if (!session) throw new Error('no session stored')
    return { browser, key, session }
  }

  const apiCall = (browser: HttpBrowser, path: string, init: RequestInit = {}) =>
    browser.request(`${broker.url}${path}`, {
      kind: 'fetch',
      initiator: broker.url,
      ...init,
      headers: { 'x-csrf': '1', ...(init.headers as Record<string, string>) },
    })

  const grants = (type: string) =>
    provider.events.filter((e) => e.grantType === type && e.type === 'grant.success').length

  it('binds the session tokens to a key of its own, kept encrypted in the store', async () => {
    const { key, session } = await signIn()
    expect(session.tokens.tokenType).toMatch(/^dpop$/i)
    const jwk = JSON.parse(session.tokens.dpopKey ?? '{}') as { d?: string; kty?: string }
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256' })
    const cnf = decodeJwt(session.tokens.accessToken).cnf as { jkt?: string } | undefined
    expect(cnf?.jkt).toMatch(/^[\w-]{43}$/)
    // At rest the private key is ciphertext like the tokens.
    const raw = JSON.stringify(await broker.store.getSession(key))
    expect(jwk.d && raw.includes(jwk.d)).toBe(false)
    // The provider asked for a nonce once (use_dpop_nonce), and the code was redeemed once.
    const refusals = provider.events.filter((e) => e.error === 'use_dpop_nonce').length
    expect(refusals).toBeGreaterThanOrEqual(1)
  })

  it('sends the upstream a DPoP proof it verifies, and answers its nonce demand without the browser seeing it', async () => {
    const { browser } = await signIn()
    api.dpop.rotateNonce()
    const before = api.requests().length
    const response = await apiCall(browser, '/api/demo/orders?page=2')
    expect(response.status).toBe(200)
    const seen = api.requests().slice(before)
    // The first proof carried no (or an old) nonce: the API asked, the broker sent it again.
    expect(seen.map((r) => [r.status, r.error ?? (r.dpop ? 'dpop' : 'bearer')])).toEqual([
      [401, 'use_dpop_nonce'],
      [200, 'dpop'],
    ])
    // The next request carries the learned nonce at once.
    const next = await apiCall(browser, '/api/demo/orders', { method: 'POST', body: '{"n":1}' })
    expect(next.status).toBe(200)
    expect(
      api
        .requests()
        .slice(before + 2)
        .map((r) => r.status),
    ).toEqual([200])
    // The nonce exchange stays between the broker and the API: the browser sees none of it.
    for (const answer of [response, next]) {
      expect(answer.headers.get('www-authenticate')).toBeNull()
      expect(answer.headers.get('dpop-nonce')).toBeNull()
    }
  })

  it('answers the nonce demand on the portable path too (HEAD), and passes it through on a streamed upload', async () => {
    const { browser } = await signIn()
    api.dpop.rotateNonce()
    const statusesSince = (before: number) =>
      api
        .requests()
        .slice(before)
        .map((r) => r.status)
    let before = api.requests().length
    expect((await apiCall(browser, '/api/demo/hello', { method: 'HEAD' })).status).toBe(200)
    expect(statusesSince(before)).toEqual([401, 200])

    // A streamed body cannot be sent twice: the browser gets the upstream's refusal, and the
    // broker has learned the nonce for the next request.
    api.dpop.rotateNonce()
    before = api.requests().length
    const upload = { method: 'POST', body: 'x'.repeat(1000) }
    const refused = await apiCall(browser, '/api/uploads/files', upload)
    expect(refused.status).toBe(401)
    expect(refused.headers.get('www-authenticate')).toMatch(/use_dpop_nonce/)
    expect((await apiCall(browser, '/api/uploads/files', upload)).status).toBe(200)
    expect(statusesSince(before)).toEqual([401, 200])
  })

  it('sends the request again with the nonce within what is left of its deadline, not a new timeout', async () => {
    const { browser } = await signIn()
    const startedAt = performance.now()
    const response = await apiCall(browser, '/api/late-nonce/x')
    const tookMs = performance.now() - startedAt
    // Asked for a nonce at 1 s of a 2 s timeout, the second attempt had the 1 s left, not 2 s.
    expect(response.status).toBe(504)
    expect(await response.json()).toMatchObject({ error: 'upstream_timeout' })
    expect(lateNonceRequests).toHaveLength(2)
    const retried = decodeJwt(String(lateNonceRequests[1]?.headers.dpop))
    expect(retried).toMatchObject({ nonce: 'late-nonce' })
    expect(tookMs).toBeLessThan(2600)
  })

  it('a GET sent again after its connection dropped carries a new proof, never the one the upstream may have seen', async () => {
    const { browser } = await signIn()
    const response = await apiCall(browser, '/api/dropping/x')
    expect(response.status).toBe(200)
    expect(droppingRequests).toHaveLength(2)
    const [first, second] = droppingRequests.map((r) => decodeJwt(String(r.headers.dpop)))
    expect(second).toMatchObject({ htm: 'GET', htu: first?.htu })
    expect(second?.jti).not.toBe(first?.jti)
  })

  it('answers nonce rotations on its kept-alive connections: a refusal is read and dropped, not its connection', async () => {
    const { browser } = await signIn()
    const connectionsBefore = nonced.connections
    const statusesBefore = nonced.statuses.length
    for (let round = 1; round <= 5; round++) {
      nonced.current = `n-${round}`
      expect((await apiCall(browser, '/api/nonced/x')).status).toBe(200)
    }
    expect(nonced.statuses.slice(statusesBefore)).toEqual([
      401, 200, 401, 200, 401, 200, 401, 200, 401, 200,
    ])
    // Were each refusal's connection cut, every rotation would open another: 6 in all.
    expect(nonced.connections - connectionsBefore).toBeLessThanOrEqual(2)
  })

  it('cuts a refusal whose body does not end, and still answers with the request sent again', async () => {
    const { browser } = await signIn()
    endlessRefusal = true
    try {
      nonced.current = 'n-endless'
      const response = await apiCall(browser, '/api/nonced/x')
      expect(response.status).toBe(200)
      // The broker closes the endless refusal's connection (within about a second).
      expect(refusal.socket).toBeDefined()
      await until(() => refusal.socket?.destroyed === true, 'the refusal cut', 3000)
    } finally {
      endlessRefusal = false
    }
  })

  it('opens a WebSocket with a DPoP proof on the upstream handshake', async () => {
    const { browser } = await signIn()
    const cookie = browser.cookieHeaderFor(broker.url)
    const socket = openWebSocket(`${broker.url}/api/live/live`, { origin: broker.url, cookie })
    await socket.opened
    expect(JSON.parse(await socket.next())).toMatchObject({ n: 1, sub: 'alice' })
    socket.socket.close(1000)
    const handshake = api.requests().findLast((r) => r.websocket)
    expect(handshake).toMatchObject({ status: 101, path: '/live' })
    expect(decodeJwt(api.lastProof() ?? '')).toMatchObject({ htm: 'GET', htu: `${api.url}/live` })
  })

  it('answers a nonce demand on the WebSocket handshake: the browser gets its socket, not the 401', async () => {
    const { browser } = await signIn()
    const cookie = browser.cookieHeaderFor(broker.url)
    api.dpop.rotateNonce()
    const before = api.requests().length
    const socket = openWebSocket(`${broker.url}/api/live/live`, { origin: broker.url, cookie })
    await socket.opened
    expect(JSON.parse(await socket.next())).toMatchObject({ n: 1, sub: 'alice' })
    socket.socket.close(1000)
    expect(
      api
        .requests()
        .slice(before)
        .map((r) => [r.websocket, r.status, r.error]),
    ).toEqual([
      [true, 401, 'use_dpop_nonce'],
      [true, 101, undefined],
    ])
  })

  it('leaves a token stolen from the upstream useless: as a bearer, without a proof, or with a replayed one', async () => {
    const { browser } = await signIn()
    expect((await apiCall(browser, '/api/demo/hello')).status).toBe(200)
    const token = api.lastBearer() ?? ''
    const proof = api.lastProof() ?? ''
    expect(decodeJwt(proof)).toMatchObject({ htm: 'GET', htu: `${api.url}/hello` })
    const attempts: Array<[string, Record<string, string>]> = [
      ['as a bearer', { authorization: `Bearer ${token}` }],
      ['without a proof', { authorization: `DPoP ${token}` }],
      ['with the replayed proof', { authorization: `DPoP ${token}`, dpop: proof }],
    ]
    for (const [how, headers] of attempts) {
      const stolen = await fetch(`${api.url}/hello`, { headers })
      expect(stolen.status, how).toBe(401)
    }
    const elsewhere = await fetch(`${api.url}/admin`, {
      headers: { authorization: `DPoP ${token}`, dpop: proof },
    })
    expect(elsewhere.status).toBe(401)
    expect(
      api
        .requests()
        .slice(-4)
        .map((r) => r.error),
    ).toEqual(['invalid_token', 'invalid_dpop_proof', 'invalid_dpop_proof', 'invalid_dpop_proof'])
  })

  it('refreshes single-flight with DPoP: one refresh grant for many concurrent calls, the new token bound to the same key', async () => {
    const { browser, key, session } = await signIn()
    const jkt = (decodeJwt(session.tokens.accessToken).cnf as { jkt: string }).jkt
    const refreshesBefore = grants('refresh_token')
    clockOffset += 120_000 // the 60 s access token is due
    try {
      const statuses = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          apiCall(browser, `/api/demo/burst/${i}`).then((r) => r.status),
        ),
      )
      expect(statuses).toEqual(Array(12).fill(200))
      expect(grants('refresh_token') - refreshesBefore).toBe(1)
      const after = (await storedSessionOf(broker, browser.cookie('__Host-bff-session')?.value))
        .session
      expect(after?.tokens.accessToken).not.toBe(session.tokens.accessToken)
      expect(after?.tokens.dpopKey).toBe(session.tokens.dpopKey)
      expect((decodeJwt(after?.tokens.accessToken ?? '').cnf as { jkt: string }).jkt).toBe(jkt)
      expect(key).toBeTruthy()
    } finally {
      clockOffset -= 120_000
    }
  })
})

describe('OIDC_DPOP against a provider that does not offer DPoP', () => {
  function broker(issuer: string, dpop: 'auto' | 'always') {
    return createBff(
      {
        publicUrl: 'http://127.0.0.1:3999',
        issuer,
        clientId: 'bff-client',
        clientSecret: 'scripted-secret',
        dangerouslyAllowHttpIssuer: true,
        cookieSecrets: [{ id: 1, secret: `test-only-${randomId(24)}` }],
        checkClient: false,
        dpop,
      },
      { logger: createLogger('silent'), store: new MemorySessionStore(systemClock) },
    )
  }

  it('is not ready with always, naming the setting; auto goes on with bearer tokens', async () => {
    const provider = await startScriptedProvider({ clientId: 'bff-client' })
    try {
      const always = broker(provider.issuer, 'always')
      const failure = await always.ready().then(
        () => undefined,
        (error: unknown) => error,
      )
      await always.close()
      expect(failure).toBeInstanceOf(BffError)
      expect((failure as BffError).detail).toMatch(
        /^OIDC_DPOP=always, but the provider does not list ES256/,
      )
      const auto = broker(provider.issuer, 'auto')
      await expect(auto.ready()).resolves.toBeUndefined()
      await auto.close()
    } finally {
      await provider.stop()
    }
  })
})
