import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TRACER_NAME } from '../../src/observability/tracing.js'
import { laneCount } from '../support/api-lane.js'
import { changeFeedLive, storedSessionOf, type TestBroker } from '../support/broker.js'
import { type BrokerCluster, startBrokerCluster } from '../support/broker-cluster.js'
import { HttpBrowser } from '../support/http-browser.js'
import { until } from '../support/until.js'
import { openWebSocket, serveWebSockets, type WebSocketUpstream } from '../support/websocket.js'

/** A browser's (or its page's instrumentation's) trace: sampled, trace and parent ids known. */
const BROWSER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const BROWSER_PARENT = '00f067aa0ba902b7'
const BROWSER_TRACEPARENT = `00-${BROWSER_TRACE}-${BROWSER_PARENT}-01`
const TOKEN_EXPIRED = 10 * 60 * 1000

const exporter = new InMemorySpanExporter()
const tracerProvider = new NodeTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(exporter)],
})

/** The spans finished while `step` ran (and what it returns). */
async function spansOf<T>(step: () => Promise<T>): Promise<{ spans: ReadableSpan[]; result: T }> {
  const before = exporter.getFinishedSpans().length
  const result = await step()
  return { spans: exporter.getFinishedSpans().slice(before), result }
}

const idOf = (span: ReadableSpan) => span.spanContext().spanId
const traceOf = (span: ReadableSpan) => span.spanContext().traceId
const named = (spans: ReadableSpan[], name: string) => spans.filter((s) => s.name === name)

function one(spans: ReadableSpan[], name: string): ReadableSpan {
  const found = named(spans, name)
  expect(
    found.map((s) => s.name),
    `one span ${name}`,
  ).toEqual([name])
  return found[0] as ReadableSpan
}

/** Whether `span` descends from `ancestor` (through the spans exported so far). */
function descendsFrom(span: ReadableSpan, ancestor: ReadableSpan): boolean {
  const byId = new Map(exporter.getFinishedSpans().map((s) => [idOf(s), s]))
  let parent = span.parentSpanContext?.spanId
  for (let hops = 0; parent !== undefined && hops < 20; hops++) {
    if (parent === idOf(ancestor)) return true
    parent = byId.get(parent)?.parentSpanContext?.spanId
  }
  return false
}

/*
 * OpenTelemetry spans of a whole session on real parts (oidc-provider, Redis, the demo API
 * echoing what it received), with the SDK registered for this file only: an in-memory
 * exporter, AsyncLocalStorage context, W3C trace context.
 */
describe('tracing: a span per request, provider, store and upstream spans under it', () => {
  let cluster: BrokerCluster
  let broker: TestBroker
  let sockets: Server
  let wsUpstream: WebSocketUpstream
  const browser = new HttpBrowser()
  /** What no span may hold, by name; filled as the session goes on. */
  const secrets: Record<string, string> = {}
  const steps: Record<string, ReadableSpan[]> = {}
  const echoed: Record<string, { traceparent?: string; tracestate?: string }> = {}

  const apiCall = (path: string, headers: Record<string, string> = {}) =>
    browser.request(`${broker.url}${path}`, {
      kind: 'fetch',
      initiator: broker.url,
      headers: { 'x-csrf': '1', ...headers },
    })

  async function keepTokens(label: string) {
    const sealed = browser.cookie('__Host-bff-session')?.value
    const { session } = await storedSessionOf(broker, sealed)
    if (!session) throw new Error('no stored session')
    secrets[`${label} access token`] = session.tokens.accessToken
    secrets[`${label} refresh token`] = session.tokens.refreshToken ?? ''
    secrets[`${label} ID token`] = session.tokens.idToken ?? ''
    secrets['session cookie'] = sealed ?? ''
  }

  beforeAll(async () => {
    tracerProvider.register({ propagator: new W3CTraceContextPropagator() })
    sockets = createServer()
    wsUpstream = serveWebSockets(sockets)
    await new Promise<void>((resolve) => sockets.listen(0, '127.0.0.1', resolve))
    const wsUrl = `http://127.0.0.1:${(sockets.address() as AddressInfo).port}`
    cluster = await startBrokerCluster(1, ({ api }) => ({
      apiRoutes: [
        { prefix: '/api/demo', upstream: api.url },
        { prefix: '/api/ws', upstream: wsUrl, websocket: true },
      ],
    }))
    broker = cluster.instances[0] as TestBroker
    const { provider } = cluster
    secrets['client secret'] = provider.clientSecret
    // RFC 6749 §2.3.1 (the test client's id and secret need no form-encoding).
    secrets['client authorization header'] = Buffer.from(
      `${provider.clientId}:${provider.clientSecret}`,
    ).toString('base64')

    // Sign-in, step by step, to see the transaction (PKCE verifier, nonce) before it is used.
    steps.signIn = (
      await spansOf(async () => {
        const login = await browser.request(`${broker.url}/auth/login`, { initiator: broker.url })
        expect(login.status).toBe(302)
        const authorize = new URL(login.headers.get('location') ?? '')
        const state = authorize.searchParams.get('state') ?? ''
        const tx = JSON.parse(
          (await broker.store.redis.get(`${broker.store.keyPrefix}tx:{${state}}`)) ?? '{}',
        ) as { codeVerifier?: string; nonce?: string }
        secrets.state = state
        secrets['PKCE verifier'] = tx.codeVerifier ?? ''
        secrets.nonce = tx.nonce ?? ''
        const page = await browser.follow(
          authorize.href,
          { initiator: broker.url },
          { stopAt: (url) => url.pathname === '/auth/callback' },
        )
        const alice = { username: 'alice', password: provider.users.alice?.password ?? '' }
        const { callbackResponse, callbackUrl } = await browser.finishLogin(page, {
          brokerUrl: broker.url,
          ...alice,
        })
        expect(callbackResponse.status).toBe(200)
        secrets['authorization code'] = new URL(callbackUrl).searchParams.get('code') ?? ''
        for (const { headers } of browser.history) {
          for (const cookie of headers.getSetCookie()) {
            const value = /^__Host-bff-tx-[^=]*=([^;]+)/.exec(cookie)?.[1]
            if (value) secrets['transaction cookie'] = value
          }
        }
      })
    ).spans
    await keepTokens('first')

    steps.user = (
      await spansOf(async () => {
        const user = await browser.request(`${broker.url}/auth/user`, {
          kind: 'fetch',
          initiator: broker.url,
          headers: { traceparent: BROWSER_TRACEPARENT },
        })
        expect(user.status).toBe(200)
      })
    ).spans

    // The first /api call takes the Hono route (the session is read from Redis)…
    steps.apiRoute = (
      await spansOf(async () => {
        const response = await apiCall('/api/demo/first?q=1')
        expect(response.status).toBe(200)
        echoed.apiRoute = (await response.json()).receivedHeaders
      })
    ).spans
    // …the next, warm, the node-level lane.
    await changeFeedLive(broker)
    await apiCall('/api/demo/warm')
    const lanesBefore = await laneCount(broker)
    steps.lane = (
      await spansOf(async () => {
        const response = await apiCall('/api/demo/lane?q=1', {
          traceparent: BROWSER_TRACEPARENT,
          tracestate: 'browser=1',
        })
        expect(response.status).toBe(200)
        echoed.lane = (await response.json()).receivedHeaders
      })
    ).spans
    expect(await laneCount(broker)).toBe(lanesBefore + 1)

    steps.webSocket = (
      await spansOf(async () => {
        const ws = openWebSocket(`${broker.url}/api/ws/live`, {
          cookie: browser.cookieHeaderFor(broker.url),
          origin: broker.url,
          traceparent: BROWSER_TRACEPARENT,
        })
        await ws.opened
        ws.socket.close()
        await ws.closed
      })
    ).spans

    steps.refresh = (
      await spansOf(async () => {
        cluster.advance(TOKEN_EXPIRED)
        const response = await apiCall('/api/demo/after-expiry')
        expect(response.status).toBe(200)
      })
    ).spans
    await keepTokens('refreshed')

    steps.signedOut = (
      await spansOf(async () => {
        const response = await fetch(`${broker.url}/api/demo/x`, { headers: { 'x-csrf': '1' } })
        expect(response.status).toBe(401)
        await response.body?.cancel()
      })
    ).spans

    steps.logout = (
      await spansOf(async () => {
        const response = await browser.request(`${broker.url}/auth/logout`, {
          method: 'POST',
          initiator: broker.url,
          headers: { traceparent: BROWSER_TRACEPARENT },
        })
        expect(response.status).toBe(200)
        await response.body?.cancel()
        // The session's own revocation is awaited before the answer; its span may end a moment later.
        await until(
          () => exporter.getFinishedSpans().some((s) => s.name === 'oidc.revocation'),
          'the revocation span',
        )
      })
    ).spans
  }, 60_000)

  afterAll(async () => {
    await cluster?.stop()
    wsUpstream?.stop()
    sockets?.close()
    await tracerProvider.shutdown()
    trace.disable()
    context.disable()
    propagation.disable()
  })

  const serverSpans = (spans: ReadableSpan[]) => spans.filter((s) => s.kind === SpanKind.SERVER)

  it('gives every request one SERVER span named after its route, without the query', () => {
    const signIn = serverSpans(steps.signIn ?? [])
    expect(signIn.map((s) => s.name)).toEqual(['GET /auth/login', 'GET /auth/callback'])
    const callback = one(signIn, 'GET /auth/callback')
    expect(callback.attributes).toMatchObject({
      'http.request.method': 'GET',
      'url.path': '/auth/callback',
      'http.route': '/auth/callback',
      'http.response.status_code': 200,
    })
    expect(callback.attributes['bff.request_id']).toMatch(/^[A-Za-z0-9_-]+$/)
    expect(callback.status.code).toBe(SpanStatusCode.UNSET)
    expect(one(signIn, 'GET /auth/login').attributes['http.response.status_code']).toBe(302)
    expect(serverSpans(steps.user ?? []).map((s) => s.name)).toEqual(['GET /auth/user'])
    expect(serverSpans(steps.logout ?? []).map((s) => s.name)).toEqual(['POST /auth/logout'])
    for (const step of ['apiRoute', 'lane', 'refresh'] as const) {
      const [api] = serverSpans(steps[step] ?? [])
      expect(serverSpans(steps[step] ?? []), step).toHaveLength(1)
      expect(api?.name).toBe('GET /api/demo/*')
      expect(api?.attributes).toMatchObject({ 'http.route': '/api/demo/*' })
      expect(api?.attributes['url.path']).toMatch(/^\/api\/demo\/[a-z-]+$/)
    }
  })

  it('puts the sign-in’s provider and store calls under their request’s span', () => {
    const spans = steps.signIn ?? []
    const callback = one(spans, 'GET /auth/callback')
    const exchange = one(spans, 'oidc.code_exchange')
    expect(exchange.kind).toBe(SpanKind.CLIENT)
    expect(exchange.parentSpanContext?.spanId).toBe(idOf(callback))
    expect(exchange.attributes).toMatchObject({
      'server.address': new URL(cluster.provider.issuer).hostname,
      'bff.outcome': 'ok',
    })
    const take = one(spans, 'store.takeTransaction')
    expect(take.parentSpanContext?.spanId).toBe(idOf(callback))
    expect(take.attributes).toEqual({
      'db.system': 'redis',
      'db.operation.name': 'takeTransaction',
    })
    expect(descendsFrom(one(spans, 'store.putTransaction'), one(spans, 'GET /auth/login'))).toBe(
      true,
    )
    expect(named(spans, 'store.createSession')).toHaveLength(1)
    // Every provider and store call of the sign-in belongs to one of its two requests.
    const calls = spans.filter((s) => s.kind === SpanKind.CLIENT)
    expect(calls.length).toBeGreaterThanOrEqual(5)
    for (const call of calls) {
      expect(
        serverSpans(spans).some((request) => descendsFrom(call, request)),
        call.name,
      ).toBe(true)
    }
  })

  // Pooled connections and lazily started timers carry the async context of the request that
  // opened them: a later request's work must not land in that old trace.
  it('puts every provider, store and upstream call of a request under that request', () => {
    for (const [step, spans] of Object.entries(steps)) {
      for (const call of spans.filter((s) => s.kind === SpanKind.CLIENT)) {
        expect(
          serverSpans(spans).some((request) => descendsFrom(call, request)),
          `${step}: ${call.name}`,
        ).toBe(true)
      }
    }
  })

  it('continues the browser’s trace when it sends a valid traceparent', () => {
    for (const step of ['user', 'lane', 'webSocket', 'logout'] as const) {
      const [request] = serverSpans(steps[step] ?? [])
      expect(traceOf(request as ReadableSpan), step).toBe(BROWSER_TRACE)
      expect(request?.parentSpanContext).toMatchObject({ spanId: BROWSER_PARENT, isRemote: true })
    }
    // Without one, a request starts a trace of its own.
    const [login] = serverSpans(steps.signIn ?? [])
    expect(login?.parentSpanContext).toBeUndefined()
    expect(traceOf(login as ReadableSpan)).not.toBe(BROWSER_TRACE)
  })

  it.each([
    ['lane', 'the node-level lane'],
    ['apiRoute', 'the Hono route'],
  ] as const)('%s: the upstream gets the traceparent of its CLIENT span (%s)', (step, _path) => {
    const spans = steps[step] ?? []
    const [request] = serverSpans(spans)
    const upstream = one(spans, 'upstream /api/demo')
    expect(upstream.kind).toBe(SpanKind.CLIENT)
    expect(upstream.parentSpanContext?.spanId).toBe(idOf(request as ReadableSpan))
    expect(upstream.attributes).toMatchObject({
      'http.request.method': 'GET',
      'server.address': '127.0.0.1',
      'server.port': cluster.api.port,
      'http.response.status_code': 200,
    })
    const [, traceId, parentId, flags] = (echoed[step]?.traceparent ?? '').split('-')
    expect(traceId).toBe(traceOf(request as ReadableSpan))
    expect(parentId).toBe(idOf(upstream))
    expect(flags).toBe('01')
  })

  it('drops the browser’s tracestate: neither the request’s span nor the upstream carries it', () => {
    const [request] = serverSpans(steps.lane ?? [])
    expect(traceOf(request as ReadableSpan)).toBe(BROWSER_TRACE)
    expect(request?.spanContext().traceState).toBeUndefined()
    expect(echoed.lane?.traceparent).toBeDefined()
    expect(echoed.lane?.tracestate).toBeUndefined()
  })

  it('traces a WebSocket handshake: its span, the upstream handshake’s, its traceparent', () => {
    const spans = steps.webSocket ?? []
    const [request] = serverSpans(spans)
    expect(request?.name).toBe('GET /api/ws/*')
    expect(request?.attributes['http.response.status_code']).toBe(101)
    expect(traceOf(request as ReadableSpan)).toBe(BROWSER_TRACE)
    const upstream = one(spans, 'upstream /api/ws')
    expect(upstream.parentSpanContext?.spanId).toBe(idOf(request as ReadableSpan))
    expect(upstream.attributes['http.response.status_code']).toBe(101)
    expect(wsUpstream.handshakes.at(-1)?.headers.traceparent).toBe(
      `00-${BROWSER_TRACE}-${idOf(upstream)}-01`,
    )
  })

  it('replaces the browser’s traceparent toward the upstream (same trace, the broker’s span)', () => {
    expect(echoed.lane?.traceparent).not.toBe(BROWSER_TRACEPARENT)
    expect(echoed.lane?.traceparent?.split('-')[1]).toBe(BROWSER_TRACE)
  })

  it('puts a refresh (provider call, lock and compare-and-set) under the /api request’s span', () => {
    const spans = steps.refresh ?? []
    const [request] = serverSpans(spans)
    const refresh = one(spans, 'oidc.refresh')
    expect(descendsFrom(refresh, request as ReadableSpan)).toBe(true)
    expect(refresh.attributes['bff.outcome']).toBe('ok')
    for (const name of ['store.acquireLock', 'store.replaceSession', 'store.releaseLock']) {
      expect(named(spans, name).length, name).toBeGreaterThan(0)
      for (const span of named(spans, name)) {
        expect(descendsFrom(span, request as ReadableSpan), name).toBe(true)
      }
    }
  })

  it('names the error code of an error answer (a 4xx is no span error)', () => {
    const [request] = serverSpans(steps.signedOut ?? [])
    expect(request?.attributes).toMatchObject({
      'http.route': '/api/demo/*',
      'http.response.status_code': 401,
      'bff.error': 'unauthenticated',
    })
    expect(request?.status.code).toBe(SpanStatusCode.UNSET)
  })

  it('puts logout’s store calls under its span, and its revocation in its trace', () => {
    const spans = steps.logout ?? []
    const [request] = serverSpans(spans)
    expect(descendsFrom(one(spans, 'store.deleteSession'), request as ReadableSpan)).toBe(true)
    const revocations = named(spans, 'oidc.revocation')
    expect(revocations.length).toBeGreaterThan(0)
    for (const revocation of revocations) expect(traceOf(revocation)).toBe(BROWSER_TRACE)
  })

  it('makes every span with the broker’s tracer', () => {
    const scopes = new Set(exporter.getFinishedSpans().map((s) => s.instrumentationScope.name))
    expect(scopes).toEqual(new Set([TRACER_NAME]))
  })

  // Attack: anything a span carries reaches the tracing backend, read by more people than
  // the broker's Redis. Every name, attribute, event, link and status message of every span
  // of a whole session is searched for every secret the session had.
  it('records no token, cookie, code, state, nonce, PKCE verifier, client secret or Authorization header', () => {
    const spans = exporter.getFinishedSpans()
    expect(spans.length).toBeGreaterThan(30)
    const texts = spans.flatMap((span) => [
      span.name,
      span.status.message ?? '',
      ...Object.entries(span.attributes).map(([key, value]) => `${key}=${String(value)}`),
      ...span.events.flatMap((event) => [
        event.name,
        ...Object.entries(event.attributes ?? {}).map(([key, value]) => `${key}=${String(value)}`),
      ]),
      ...span.links.flatMap((link) =>
        Object.entries(link.attributes ?? {}).map(([key, value]) => `${key}=${String(value)}`),
      ),
    ])
    expect(Object.keys(secrets).sort()).toEqual(
      [
        'PKCE verifier',
        'authorization code',
        'client authorization header',
        'client secret',
        'first ID token',
        'first access token',
        'first refresh token',
        'nonce',
        'refreshed ID token',
        'refreshed access token',
        'refreshed refresh token',
        'session cookie',
        'state',
        'transaction cookie',
      ].sort(),
    )
    for (const [name, secret] of Object.entries(secrets)) {
      expect(secret.length, `${name} was captured`).toBeGreaterThanOrEqual(16)
      const leaks = texts.filter((text) => text.includes(secret))
      expect(leaks, `${name} in a span`).toEqual([])
    }
    expect(texts.filter((text) => /bearer |basic /i.test(text))).toEqual([])
  })
})
