import { randomBytes } from 'node:crypto'
import {
  type DevClient,
  type DevProvider,
  type DevProviderOptions,
  startDevProvider,
} from '../../demo/provider/create-provider.js'

export interface TestProviderOptions extends Partial<DevProviderOptions> {
  /** The broker's callback URL, registered for the default client. */
  redirectUri: string
  /** Default: the broker's /auth/signed-out on the callback's origin. */
  postLogoutRedirectUri?: string
  /** Registered with sid required, as the README tells operators to. */
  backchannelLogoutUri?: string
  /** More redirect URIs (e.g. of a second broker instance). */
  extraRedirectUris?: string[]
  clientId?: string
  clientSecret?: string
  tokenEndpointAuthMethod?: DevClient['token_endpoint_auth_method']
}

export interface TestProvider extends DevProvider {
  clientId: string
  clientSecret: string
}

/**
 * The dev provider with one confidential client `bff-test` (random secret) and short
 * token lifetimes. Pass `clients` to replace the default client entirely.
 */
export async function startTestProvider(options: TestProviderOptions): Promise<TestProvider> {
  const {
    redirectUri,
    postLogoutRedirectUri = new URL('/auth/signed-out', redirectUri).href,
    backchannelLogoutUri,
    extraRedirectUris = [],
    clientId = 'bff-test',
    clientSecret = `test-${randomBytes(24).toString('base64url')}`,
    tokenEndpointAuthMethod = 'client_secret_basic',
    ...rest
  } = options
  const client: DevClient = {
    client_id: clientId,
    client_secret: clientSecret,
    token_endpoint_auth_method: tokenEndpointAuthMethod,
    redirect_uris: [redirectUri, ...extraRedirectUris],
    post_logout_redirect_uris: [postLogoutRedirectUri],
    ...(backchannelLogoutUri
      ? { backchannel_logout_uri: backchannelLogoutUri, backchannel_logout_session_required: true }
      : {}),
  }
  const devProvider = await startDevProvider({
    accessTokenTtlSeconds: 60,
    ...rest,
    clients: rest.clients ?? [client],
  })
  return { ...devProvider, clientId, clientSecret }
}
