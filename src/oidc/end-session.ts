import * as oidc from 'openid-client'
import type { BffConfig } from '../config/schema.js'

/**
 * How the browser leaves for the provider after a local logout. Either way the ID token
 * never appears in a URL the broker produces: URLs end up in proxy, provider and browser
 * history logs.
 */
export type EndSession =
  /**
   * RP-Initiated Logout 1.0 §2 by POST ("OPs MUST support the use of the HTTP GET and POST
   * methods"): the browser submits `fields` (id_token_hint among them) to `action`.
   */
  | { method: 'post'; action: string; fields: Array<[string, string]>; stateSent: true }
  /** A redirect: a configured logout URL, the end_session_endpoint without id_token_hint, or the app. */
  | { method: 'get'; url: string; stateSent: boolean }

export interface EndSessionParams {
  state: string
  /** Sent only with `method: 'post'`. */
  idTokenHint?: string
  /** POST (OIDC_END_SESSION_METHOD, for a top-level navigation) or GET without the ID token. */
  method: 'post' | 'get'
}

/** Where the provider sends the browser back (registered at the provider). */
export function postLogoutRedirectUri(config: BffConfig): string {
  return config.postLogoutRedirectUri ?? new URL('/auth/signed-out', config.publicUrl).href
}

/**
 * The end-session request for this provider. openid-client builds it (it adds client_id,
 * which §2 recommends and which identifies the client when there is no id_token_hint); for a
 * POST the parameters it appended move from the query into the form body, and the endpoint's
 * own query (some providers put a policy or tenant there) stays in the action.
 */
export function endSessionRequest(
  configuration: oidc.Configuration,
  config: BffConfig,
  params: EndSessionParams,
): EndSession {
  const endpoint = configuration.serverMetadata().end_session_endpoint
  // A configured logout URL wins over discovery: some providers list an end_session_endpoint
  // that does not speak RP-Initiated Logout (Cognito's /logout wants logout_uri).
  if (config.logoutUrl || !endpoint) {
    return { method: 'get', url: config.logoutUrl ?? config.postLogoutReturnTo, stateSent: false }
  }
  const post = params.method === 'post'
  const url = oidc.buildEndSessionUrl(configuration, {
    post_logout_redirect_uri: postLogoutRedirectUri(config),
    state: params.state,
    ...(post && params.idTokenHint ? { id_token_hint: params.idTokenHint } : {}),
  })
  if (!post) return { method: 'get', url: url.href, stateSent: true }
  const own = new URL(endpoint).search
  const fields = [...url.searchParams].slice([...new URLSearchParams(own)].length)
  const action = new URL(url)
  action.search = own
  return { method: 'post', action: action.href, fields, stateSent: true }
}
