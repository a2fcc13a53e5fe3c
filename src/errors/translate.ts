import * as oidc from 'openid-client'
import { BffError } from './bff-error.js'

/** Names of the error classes openid-client/oauth4webapi use for network-level failures. */
const NETWORK_ERROR_NAMES = new Set(['AbortError', 'TimeoutError'])

function isNetworkFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  if (NETWORK_ERROR_NAMES.has(error.name)) return true
  // undici's fetch rejects with TypeError('fetch failed') and the socket error as cause.
  if (error instanceof TypeError && error.message === 'fetch failed') return true
  return error.cause !== undefined && error.cause !== error && isNetworkFailure(error.cause)
}

/** The provider's HTTP status when openid-client saw an error response, if any. */
export function providerStatus(error: unknown): number | undefined {
  if (error instanceof oidc.ResponseBodyError) return error.status
  if (error instanceof oidc.ClientError && error.cause instanceof Response)
    return error.cause.status
  if (error instanceof Error && error.cause instanceof Response) return error.cause.status
  return undefined
}

/** The OAuth `error` code of a provider's error response, if any. */
export function providerErrorCode(error: unknown): string | undefined {
  if (error instanceof oidc.ResponseBodyError) return error.error
  if (error instanceof Error && error.cause instanceof oidc.ResponseBodyError) {
    return error.cause.error
  }
  return undefined
}

/** The provider's `error_description`, if its error response had one. */
export function providerErrorDescription(error: unknown): string | undefined {
  const body =
    error instanceof oidc.ResponseBodyError
      ? error
      : error instanceof Error && error.cause instanceof oidc.ResponseBodyError
        ? error.cause
        : undefined
  return body?.error_description ?? undefined
}

const LOGGED_TEXT = 200

/**
 * What the provider answered, for a log line a person can act on: its HTTP status, `error` and
 * `error_description` (provider text, cut to 200 characters). Empty when it did not answer.
 */
export function providerAnswer(error: unknown): {
  providerStatus?: number
  providerError?: string
  providerErrorDescription?: string
} {
  const cause = error instanceof BffError ? error.cause : error
  const status = providerStatus(cause)
  const code = providerErrorCode(cause)
  const description = providerErrorDescription(cause)
  return {
    ...(status !== undefined && { providerStatus: status }),
    ...(code !== undefined && { providerError: code.slice(0, LOGGED_TEXT) }),
    ...(description !== undefined && {
      providerErrorDescription: description.slice(0, LOGGED_TEXT),
    }),
  }
}

/**
 * The provider refused the broker itself (RFC 6749 §5.2): its client id, secret or key, or
 * the grant it may use. A registration to fix, not a user's sign-in that failed.
 */
const CLIENT_REFUSED = new Set(['invalid_client', 'unauthorized_client'])

/** Whether a token endpoint refusal names the broker's own client, not a user's grant. */
export function clientRefused(error: unknown): boolean {
  return CLIENT_REFUSED.has(providerErrorCode(error) ?? '')
}

/**
 * Turns a failure of a protocol call into a coded error. `fallback` is the code for a
 * response that arrived but could not be accepted (a validation failure).
 */
export function translateProviderError(
  error: unknown,
  fallback: 'login_failed' | 'session_expired',
): BffError {
  if (error instanceof BffError) return error
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  if (isNetworkFailure(error)) return new BffError('provider_unavailable', { detail, cause: error })
  if (clientRefused(error)) {
    return new BffError('provider_rejected_client', { detail, cause: error })
  }
  const status = providerStatus(error)
  if (status !== undefined && status >= 500) {
    return new BffError('provider_unavailable', { detail, cause: error })
  }
  return new BffError(fallback, { detail, cause: error })
}
