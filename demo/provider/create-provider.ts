import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import Provider from 'oidc-provider'
import { listen } from '../listen.js'
import { registerDevTokenExchange } from './dev-token-exchange.js'
import { type DevUsers, defaultDevUsers } from './dev-users.js'
import { createInteractionRoutes, type InteractionRoutes } from './interactions.js'
import { type ProviderCounts, type ProviderEvent, recordActivity } from './provider-activity.js'
import {
  buildConfiguration,
  type DevClient,
  devResourceServer,
  type RefreshTokenPolicy,
} from './provider-config.js'
import { createSigningJwk, type SigningAlg } from './signing-key.js'

export type { DevUser, DevUsers } from './dev-users.js'
export type { ProviderCounts, ProviderEvent } from './provider-activity.js'
export type { DevClient, RefreshTokenPolicy } from './provider-config.js'
export { ACR_PASSWORD, ACR_TWO_FACTOR } from './provider-config.js'
export type { SigningAlg } from './signing-key.js'

export interface DevProviderOptions {
  clients: DevClient[]
  /** 0 (the default) picks a free port. */
  port?: number
  /** Interface to listen on. */
  host?: string
  /** Host name written into the issuer (the demo uses `localhost`). */
  publicHost?: string
  /** Keycloak-style path, e.g. `/realms/test`. */
  issuerPath?: string
  idTokenSigningAlg?: SigningAlg
  accessTokenTtlSeconds?: number
  /** `aud` of the JWT access tokens. */
  apiAudience?: string
  /**
   * More audiences a token may be asked for with an RFC 8707 resource indicator. Default: a
   * second demo audience, http://localhost:4021.
   */
  moreAudiences?: string[]
  /** Whether clients may use the client_credentials grant (default true). */
  clientCredentials?: boolean
  /**
   * Whether clients may use the dev-only RFC 8693 token exchange (default true): an access token
   * this provider issued to the client, exchanged for one for `apiAudience`, a `moreAudiences`
   * one or an `exchangeAudiences` name (see dev-token-exchange.ts).
   */
  tokenExchange?: boolean
  /** Logical audience names (RFC 8693 §2.1 `audience`) tokens may be exchanged for. */
  exchangeAudiences?: string[]
  requirePar?: boolean
  /**
   * 'always' (default): every client allowed the refresh_token grant gets one, as with
   * Keycloak. 'offline_access': only when offline_access was granted, which
   * oidc-provider allows only on requests with prompt=consent.
   */
  refreshTokenPolicy?: RefreshTokenPolicy
  users?: DevUsers
  /** Serve over https with this certificate (the issuer becomes https). */
  tls?: { key: string; cert: string }
  /**
   * SameSite of the provider's cookies. 'lax' (oidc-provider's default) suits the demo, where
   * app and provider are both on localhost (one site). An app on another site posts its
   * end-session form cross-site, and a top-level cross-site POST carries no Lax cookie: the
   * provider would not see the user's session. 'none' (with Secure, so it needs `tls`) is what
   * hosted providers do for exactly this.
   */
  cookieSameSite?: 'lax' | 'none'
  /**
   * DPoP (RFC 9449) is always offered; with this, every DPoP token request must carry a nonce
   * the provider gave (use_dpop_nonce first), as providers that guard against pre-made proofs do.
   */
  dpopNonces?: boolean
}

export interface DevProvider {
  issuer: string
  port: number
  jwksUri: string
  users: DevUsers
  provider: Provider
  events: ProviderEvent[]
  counts(): ProviderCounts
  stop(): Promise<void>
}

export function normaliseIssuerPath(path = ''): string {
  const trimmed = path.replace(/\/+$/, '')
  if (trimmed === '') return ''
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`
}

export async function startDevProvider(options: DevProviderOptions): Promise<DevProvider> {
  const issuerPath = normaliseIssuerPath(options.issuerPath)
  const alg = options.idTokenSigningAlg ?? 'RS256'
  const users = options.users ?? defaultDevUsers()

  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.writeHead(503).end()
  }
  if (options.cookieSameSite === 'none' && !options.tls) {
    throw new Error('dev provider: SameSite=None cookies must be Secure, which needs tls')
  }
  const serve = (req: IncomingMessage, res: ServerResponse) => handler(req, res)
  const server = options.tls ? createHttpsServer(options.tls, serve) : createServer(serve)
  const port = await listen(server, options.port ?? 0, options.host ?? '127.0.0.1')
  const scheme = options.tls ? 'https' : 'http'
  const issuer = `${scheme}://${options.publicHost ?? '127.0.0.1'}:${port}${issuerPath}`

  const signingJwk = await createSigningJwk(alg)
  const accessTokenTtlSeconds = options.accessTokenTtlSeconds ?? 60
  const apiAudience = options.apiAudience ?? 'http://localhost:4020'
  const moreAudiences = options.moreAudiences ?? ['http://localhost:4021']
  const tokenExchange = options.tokenExchange ?? true
  const configuration = buildConfiguration({
    issuerPath,
    alg,
    signingJwk,
    clients: options.clients,
    users,
    accessTokenTtlSeconds,
    apiAudience,
    moreAudiences,
    clientCredentials: options.clientCredentials ?? true,
    tokenExchange,
    requirePar: options.requirePar ?? false,
    refreshTokenPolicy: options.refreshTokenPolicy ?? 'always',
    cookieKeys: [randomBytes(32).toString('base64url')],
    cookieSameSite: options.cookieSameSite ?? 'lax',
    dpopNonces: options.dpopNonces ?? false,
  })
  const provider = new Provider(issuer, configuration)
  if (tokenExchange) {
    registerDevTokenExchange(provider, {
      audiences: new Set([apiAudience, ...moreAudiences, ...(options.exchangeAudiences ?? [])]),
      resourceServer: (audience) => devResourceServer(audience, alg, accessTokenTtlSeconds),
      signingJwk,
      alg,
      users,
    })
  }
  const activity = recordActivity(provider)
  const interactions = createInteractionRoutes(provider, issuerPath, users)
  handler = mountedHandler(provider, issuerPath, interactions)

  return {
    issuer,
    port,
    jwksUri: provider.urlFor('jwks'),
    users,
    provider,
    events: activity.events,
    counts: activity.counts,
    stop: () => close(server),
  }
}

/**
 * Serves the provider under the issuer path with plain node:http: the prefix is cut
 * from req.url and put in req.baseUrl, which oidc-provider reads as its mount path
 * when it builds endpoint URLs.
 */
function mountedHandler(provider: Provider, issuerPath: string, interactions: InteractionRoutes) {
  const callback = provider.callback()
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/'
    const inside =
      url === issuerPath || url.startsWith(`${issuerPath}/`) || url.startsWith(`${issuerPath}?`)
    if (!inside) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
      return
    }
    interactions.handle(req, res).then(
      (handled) => {
        if (handled) return
        const mounted = req as IncomingMessage & { baseUrl?: string }
        mounted.url = url.slice(issuerPath.length) || '/'
        mounted.baseUrl = issuerPath
        callback(req, res)
      },
      (error: unknown) => {
        console.error('dev provider: interaction failed', error)
        if (!res.headersSent) res.writeHead(500)
        res.end()
      },
    )
  }
}

function close(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()))
    server.closeAllConnections()
  })
}
