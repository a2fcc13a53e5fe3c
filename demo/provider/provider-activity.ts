import type Provider from 'oidc-provider'
import type { KoaContextWithOIDC } from 'oidc-provider'

export interface ProviderEvent {
  type: string
  at: number
  clientId?: string
  grantType?: string
  /** The RFC 8707 resource indicator a token request named. */
  resource?: string
  /** The RFC 8693 audience a token exchange named. */
  audience?: string
  error?: string
  sid?: string
  accountId?: string
}

export interface ProviderCounts {
  authorizationCodeGrants: number
  authorizationCodeErrors: number
  refreshTokenGrants: number
  refreshTokenErrors: number
  clientCredentialsGrants: number
  clientCredentialsErrors: number
  revocations: number
  endSessions: number
  backchannelLogouts: number
  backchannelErrors: number
  pushedAuthorizationRequests: number
}

export interface ProviderActivity {
  events: ProviderEvent[]
  counts(): ProviderCounts
}

function grantTypeOf(ctx: KoaContextWithOIDC): string | undefined {
  const value = ctx.oidc?.params?.grant_type
  return typeof value === 'string' ? value : undefined
}

function resourceOf(ctx: KoaContextWithOIDC): string | undefined {
  const value = ctx.oidc?.params?.resource
  return typeof value === 'string' ? value : undefined
}

function audienceOf(ctx: KoaContextWithOIDC): string | undefined {
  const value = ctx.oidc?.params?.audience
  return typeof value === 'string' ? value : undefined
}

function errorCode(error: unknown): string {
  if (error && typeof error === 'object' && 'error' in error) return String(error.error)
  return error instanceof Error ? error.message : String(error)
}

/** Records what the provider did, so tests can assert "one refresh, not two". */
export function recordActivity(provider: Provider): ProviderActivity {
  const events: ProviderEvent[] = []
  const log = (event: Omit<ProviderEvent, 'at'>) => events.push({ ...event, at: Date.now() })

  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const clientId = ctx.oidc.client?.clientId
    const resource = resourceOf(ctx)
    const audience = audienceOf(ctx)
    log({ type: 'grant.success', grantType: grantTypeOf(ctx), clientId, resource, audience })
  })
  provider.on('grant.error', (ctx: KoaContextWithOIDC, error: unknown) => {
    const clientId = ctx.oidc?.client?.clientId
    const resource = resourceOf(ctx)
    const grantType = grantTypeOf(ctx)
    const audience = audienceOf(ctx)
    log({ type: 'grant.error', grantType, clientId, resource, audience, error: errorCode(error) })
  })
  provider.on('end_session.success', (ctx: KoaContextWithOIDC) => {
    // accountId: whether the provider saw the user's session (else it ended an empty one).
    const accountId = ctx.oidc.session?.accountId
    log({ type: 'end_session.success', clientId: ctx.oidc.client?.clientId, accountId })
  })
  provider.on('pushed_authorization_request.success', (ctx: KoaContextWithOIDC) => {
    log({ type: 'pushed_authorization_request.success', clientId: ctx.oidc.client?.clientId })
  })
  provider.on('backchannel.success', (_ctx, client, accountId, sid) => {
    log({ type: 'backchannel.success', clientId: client.clientId, accountId, sid })
  })
  provider.on('backchannel.error', (_ctx, error, client, accountId, sid) => {
    const clientId = client.clientId
    log({ type: 'backchannel.error', clientId, accountId, sid, error: errorCode(error) })
  })
  // oidc-provider emits no event for a successful revocation; observe the route instead.
  provider.use(async (ctx, next) => {
    await next()
    if (ctx.oidc?.route === 'revocation' && ctx.status === 200) {
      log({ type: 'revocation.success', clientId: ctx.oidc.client?.clientId })
    }
  })

  const count = (type: string, grantType?: string) =>
    events.filter((e) => e.type === type && (grantType === undefined || e.grantType === grantType))
      .length

  return {
    events,
    counts: () => ({
      authorizationCodeGrants: count('grant.success', 'authorization_code'),
      authorizationCodeErrors: count('grant.error', 'authorization_code'),
      refreshTokenGrants: count('grant.success', 'refresh_token'),
      refreshTokenErrors: count('grant.error', 'refresh_token'),
      clientCredentialsGrants: count('grant.success', 'client_credentials'),
      clientCredentialsErrors: count('grant.error', 'client_credentials'),
      revocations: count('revocation.success'),
      endSessions: count('end_session.success'),
      backchannelLogouts: count('backchannel.success'),
      backchannelErrors: count('backchannel.error'),
      pushedAuthorizationRequests: count('pushed_authorization_request.success'),
    }),
  }
}
