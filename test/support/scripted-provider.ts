import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { CryptoKey, JWK } from 'jose'
import {
  epoch,
  flatHeaders,
  isRaw,
  json,
  oauthError,
  type RawResponse,
  random,
  readForm,
  requestClientId,
  s256,
  send,
} from './scripted-provider-http.js'
import {
  defaultHeader,
  generateProviderKeys,
  type IdTokenPlan,
  signIdToken,
} from './scripted-provider-id-token.js'

export type { IdTokenPlan, SignMode } from './scripted-provider-id-token.js'

export interface ProviderKey {
  privateKey: CryptoKey
  publicJwk: JWK
  kid: string
}

export interface IdTokenContext {
  nonce?: string
  clientId: string
  grantType: string
}

export type { RawResponse }

export interface Script {
  /** Rewrite the discovery document (wrong issuer, drop endpoints, require PAR, ...). */
  metadata?: (defaults: Record<string, unknown>) => Record<string, unknown>
  /** Rewrite the published key set (e.g. rotation, empty set). */
  jwks?: (defaults: { keys: JWK[] }) => { keys: unknown[] }
  idToken?: IdTokenPlan | ((ctx: IdTokenContext) => IdTokenPlan)
  /**
   * Answer a token request before any grant is looked at, as a provider that refuses the
   * client itself does (the client check's made-up refresh token included); undefined: go on.
   */
  tokenRefusal?: (grantType: string) => RawResponse | undefined
  /** Rewrite the token endpoint JSON, or return a raw `{ status, body, contentType? }` response. */
  tokenResponse?: (defaults: Record<string, unknown>) => Record<string, unknown> | RawResponse
  /** Override the Location sent by /authorize. */
  authorizeRedirect?: (p: {
    redirectUri: string
    state?: string
    code: string
    issuer: string
  }) => string
}

export interface CallCounts {
  discovery: number
  jwks: number
  authorize: number
  par: number
  token: number
  userinfo: number
  revocation: number
  endSession: number
}

/** An end-session request as it arrived: GET parameters are in the URL, POST ones in the body. */
export interface EndSessionRequest {
  method: string
  url: string
  query: URLSearchParams
  body: URLSearchParams
}

export interface RecordedRequest {
  params: URLSearchParams
  headers: Record<string, string>
}

export interface ScriptedProvider {
  issuer: string
  url(path: string): string
  /** `rogue` is not published (until a test's jwks script publishes it, as a rotated-in key). */
  keys: { rsa: ProviderKey; ec: ProviderKey; rogue: ProviderKey }
  calls: CallCounts
  tokenRequests: Array<RecordedRequest & { grantType: string }>
  /**
   * The broker's client checks (refresh grants with a made-up `bff-client-check-…` token, at
   * start and in readiness), kept apart from `tokenRequests`, which are the users' grants.
   */
  clientChecks: RecordedRequest[]
  parRequests: RecordedRequest[]
  revokedTokens: string[]
  lastAuthorizationRequest(): URLSearchParams | undefined
  lastEndSessionRequest(): EndSessionRequest | undefined
  script: Script
  reset(): void
  stop(): Promise<void>
}

export interface ScriptedProviderOptions {
  clientId?: string
  port?: number
  /** e.g. '/tenant-a': issuer and every endpoint live under this path */
  issuerPath?: string
}

interface IssuedCode {
  nonce?: string
  codeChallenge?: string
  codeChallengeMethod?: string
  redirectUri: string
  scope: string
}

export async function startScriptedProvider(
  options: ScriptedProviderOptions = {},
): Promise<ScriptedProvider> {
  const clientId = options.clientId ?? 'client-1'
  const issuerPath = (options.issuerPath ?? '').replace(/\/+$/, '')
  const keys = await generateProviderKeys()
  const codes = new Map<string, IssuedCode>()
  const parRequests = new Map<string, URLSearchParams>()
  const refreshTokens = new Map<string, { scope: string }>()
  let lastAuthorization: URLSearchParams | undefined
  let lastEndSession: EndSessionRequest | undefined

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, `scripted provider error: ${String(err)}`, 'text/plain')
      else res.destroy()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  const issuer = `http://127.0.0.1:${port}${issuerPath}`
  const url = (path: string) => `${issuer}${path.startsWith('/') ? path : `/${path}`}`

  const provider: ScriptedProvider = {
    issuer,
    url,
    keys: { rsa: keys.rsa, ec: keys.ec, rogue: keys.rogueRsa },
    calls: zeroCalls(),
    tokenRequests: [],
    clientChecks: [],
    parRequests: [],
    revokedTokens: [],
    lastAuthorizationRequest: () => lastAuthorization,
    lastEndSessionRequest: () => lastEndSession,
    script: {},
    reset() {
      Object.assign(provider.calls, zeroCalls())
      provider.script = {}
      provider.tokenRequests.length = 0
      provider.clientChecks.length = 0
      provider.parRequests.length = 0
      provider.revokedTokens.length = 0
      lastAuthorization = undefined
      lastEndSession = undefined
    },
    /** Idempotent: tests may stop the provider early to simulate an outage. */
    async stop() {
      if (!server.listening) return
      server.closeAllConnections()
      await new Promise<void>((resolve, reject) =>
        server.close((err) => (err ? reject(err) : resolve())),
      )
    },
  }

  function metadata(): Record<string, unknown> {
    const defaults = {
      issuer,
      authorization_endpoint: url('/authorize'),
      token_endpoint: url('/token'),
      jwks_uri: url('/jwks'),
      userinfo_endpoint: url('/userinfo'),
      revocation_endpoint: url('/revoke'),
      end_session_endpoint: url('/end_session'),
      pushed_authorization_request_endpoint: url('/par'),
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      subject_types_supported: ['public'],
      code_challenge_methods_supported: ['S256'],
      id_token_signing_alg_values_supported: ['RS256', 'ES256'],
      token_endpoint_auth_methods_supported: [
        'client_secret_basic',
        'client_secret_post',
        'private_key_jwt',
      ],
      authorization_response_iss_parameter_supported: true,
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
    }
    return provider.script.metadata ? provider.script.metadata(defaults) : defaults
  }

  async function idToken(ctx: IdTokenContext): Promise<string> {
    const scripted = provider.script.idToken
    const plan = (typeof scripted === 'function' ? scripted(ctx) : scripted) ?? {}
    const sign = plan.sign ?? 'rs256'
    const now = epoch()
    const claims: Record<string, unknown> = {
      iss: issuer,
      sub: 'user-1',
      aud: clientId,
      exp: now + 300,
      iat: now,
      ...(ctx.nonce !== undefined && { nonce: ctx.nonce }),
      sid: 'sid-1',
      name: 'Test User',
      email: 'user-1@example.test',
    }
    const header = defaultHeader(keys, sign)
    return signIdToken(
      keys,
      sign,
      plan.header ? plan.header(header) : header,
      plan.claims ? plan.claims(claims) : claims,
    )
  }

  async function tokenEndpoint(req: IncomingMessage, res: ServerResponse) {
    provider.calls.token++
    const params = await readForm(req)
    const headers = flatHeaders(req)
    const grantType = params.get('grant_type') ?? ''
    if (params.get('refresh_token')?.startsWith('bff-client-check-')) {
      provider.clientChecks.push({ params, headers })
    } else {
      provider.tokenRequests.push({ grantType, params, headers })
    }
    const refusal = provider.script.tokenRefusal?.(grantType)
    if (refusal) {
      return send(res, refusal.status, refusal.body, refusal.contentType ?? 'application/json')
    }

    let scope: string
    let nonce: string | undefined
    if (grantType === 'authorization_code') {
      const code = params.get('code') ?? ''
      const issued = codes.get(code)
      if (!issued) return oauthError(res, 400, 'invalid_grant', 'unknown or used code')
      codes.delete(code)
      if (params.get('redirect_uri') !== issued.redirectUri) {
        return oauthError(res, 400, 'invalid_grant', 'redirect_uri mismatch')
      }
      if (issued.codeChallenge !== undefined) {
        const verifier = params.get('code_verifier')
        if (issued.codeChallengeMethod !== 'S256' || !verifier) {
          return oauthError(res, 400, 'invalid_grant', 'PKCE verification failed')
        }
        if (s256(verifier) !== issued.codeChallenge) {
          return oauthError(res, 400, 'invalid_grant', 'PKCE verification failed')
        }
      }
      scope = issued.scope
      nonce = issued.nonce
    } else if (grantType === 'refresh_token') {
      const refreshToken = params.get('refresh_token') ?? ''
      const known = refreshTokens.get(refreshToken)
      if (!known || provider.revokedTokens.includes(refreshToken)) {
        return oauthError(res, 400, 'invalid_grant', 'unknown or revoked refresh token')
      }
      scope = params.get('scope') ?? known.scope
    } else if (grantType === 'client_credentials') {
      // The client's own token: no refresh token, no ID token (RFC 6749 §4.4.3).
      const granted = params.get('scope')
      const defaults: Record<string, unknown> = {
        access_token: `client-${random()}`,
        token_type: 'Bearer',
        expires_in: 300,
        ...(granted ? { scope: granted } : {}),
      }
      const out = provider.script.tokenResponse ? provider.script.tokenResponse(defaults) : defaults
      if (isRaw(out)) return send(res, out.status, out.body, out.contentType ?? 'application/json')
      return json(res, 200, out)
    } else {
      return oauthError(res, 400, 'unsupported_grant_type', `unsupported: ${grantType}`)
    }

    const refreshToken = random()
    refreshTokens.set(refreshToken, { scope })
    const defaults: Record<string, unknown> = {
      access_token: random(),
      token_type: 'Bearer',
      expires_in: 300,
      refresh_token: refreshToken,
      scope,
      id_token: await idToken({
        ...(nonce !== undefined && { nonce }),
        clientId: requestClientId(headers, params) ?? clientId,
        grantType,
      }),
    }
    const out = provider.script.tokenResponse ? provider.script.tokenResponse(defaults) : defaults
    if (isRaw(out)) return send(res, out.status, out.body, out.contentType ?? 'application/json')
    json(res, 200, out)
  }

  function authorize(query: URLSearchParams, res: ServerResponse) {
    provider.calls.authorize++
    let params = query
    const requestUri = query.get('request_uri')
    if (requestUri !== null) {
      const pushed = parRequests.get(requestUri)
      if (!pushed) return send(res, 400, 'invalid request_uri', 'text/plain')
      parRequests.delete(requestUri)
      params = new URLSearchParams(pushed)
      if (!params.has('client_id') && query.has('client_id')) {
        params.set('client_id', query.get('client_id') ?? '')
      }
    } else if (metadata().require_pushed_authorization_requests === true) {
      return send(res, 400, 'pushed authorization request required', 'text/plain')
    }
    lastAuthorization = params
    const redirectUri = params.get('redirect_uri')
    if (!redirectUri) return send(res, 400, 'missing redirect_uri', 'text/plain')

    const code = random()
    const state = params.get('state') ?? undefined
    codes.set(code, {
      redirectUri,
      scope: params.get('scope') ?? 'openid',
      ...(params.has('nonce') && { nonce: params.get('nonce') ?? '' }),
      ...(params.has('code_challenge') && { codeChallenge: params.get('code_challenge') ?? '' }),
      codeChallengeMethod: params.get('code_challenge_method') ?? 'plain',
    })
    let location: string
    if (provider.script.authorizeRedirect) {
      location = provider.script.authorizeRedirect({
        redirectUri,
        code,
        issuer,
        ...(state !== undefined && { state }),
      })
    } else {
      const target = new URL(redirectUri)
      target.searchParams.set('code', code)
      if (state !== undefined) target.searchParams.set('state', state)
      target.searchParams.set('iss', issuer)
      location = target.href
    }
    res.writeHead(302, { location, 'cache-control': 'no-store' })
    res.end()
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const requestUrl = new URL(req.url ?? '/', `http://127.0.0.1:${port}`)
    if (!requestUrl.pathname.startsWith(`${issuerPath}/`)) return send(res, 404, '', 'text/plain')
    const path = requestUrl.pathname.slice(issuerPath.length)
    const route = `${req.method} ${path}`

    switch (route) {
      case 'GET /.well-known/openid-configuration':
        provider.calls.discovery++
        return json(res, 200, metadata())
      case 'GET /jwks': {
        provider.calls.jwks++
        const defaults = { keys: [keys.rsa.publicJwk, keys.ec.publicJwk] }
        const body = provider.script.jwks ? provider.script.jwks(defaults) : defaults
        return send(res, 200, JSON.stringify(body), 'application/jwk-set+json')
      }
      case 'GET /authorize':
        return authorize(requestUrl.searchParams, res)
      case 'POST /par': {
        provider.calls.par++
        const params = await readForm(req)
        provider.parRequests.push({ params, headers: flatHeaders(req) })
        const requestUri = `urn:ietf:params:oauth:request_uri:${random()}`
        const stored = new URLSearchParams(params)
        const pushedBy = requestClientId(flatHeaders(req), params)
        if (pushedBy !== undefined) stored.set('client_id', pushedBy)
        for (const k of ['client_secret', 'client_assertion', 'client_assertion_type']) {
          stored.delete(k)
        }
        parRequests.set(requestUri, stored)
        return json(res, 201, { request_uri: requestUri, expires_in: 60 })
      }
      case 'POST /token':
        return tokenEndpoint(req, res)
      case 'GET /userinfo':
      case 'POST /userinfo':
        provider.calls.userinfo++
        return json(res, 200, { sub: 'user-1' })
      case 'POST /revoke': {
        provider.calls.revocation++
        const token = (await readForm(req)).get('token')
        if (token) provider.revokedTokens.push(token)
        res.writeHead(200)
        return res.end()
      }
      case 'GET /end_session':
      case 'POST /end_session': {
        provider.calls.endSession++
        const body = req.method === 'POST' ? await readForm(req) : new URLSearchParams()
        lastEndSession = {
          method: req.method ?? '',
          url: requestUrl.href,
          query: requestUrl.searchParams,
          body,
        }
        return send(res, 200, '<!doctype html><title>Signed out</title>', 'text/html')
      }
      default:
        return send(res, 404, 'not found', 'text/plain')
    }
  }

  return provider
}

function zeroCalls(): CallCounts {
  return {
    discovery: 0,
    jwks: 0,
    authorize: 0,
    par: 0,
    token: 0,
    userinfo: 0,
    revocation: 0,
    endSession: 0,
  }
}
