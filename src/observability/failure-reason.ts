import type { BffError } from '../errors/bff-error.js'

function messages(error: unknown, depth = 0): string {
  if (!(error instanceof Error) || depth > 5) return ''
  return `${error.message} ${messages(error.cause, depth + 1)}`
}

/** Ordered: the first pattern found in the error chain names the reason. */
const VALIDATION_REASONS: Array<[string, RegExp]> = [
  ['nonce', /nonce/i],
  ['acr', /ID token acr/],
  ['max_age', /auth_time/],
  ['clock_skew', /"(exp|iat|nbf)"|timestamp|too old/i],
  ['signature', /signature|"alg"|applicable keys|\bkid\b|JWKS|JWS/i],
  ['issuer', /"iss"|issuer/i],
  ['audience', /"aud"|"azp"|audience/i],
  ['code_rejected', /invalid_grant|code_verifier|PKCE/i],
]

/**
 * A bounded label for a failed sign-in: the error code, refined for ID token validation
 * failures (state, nonce, signature, clock skew, ...) by reading openid-client's messages.
 */
export function loginFailureReason(error: BffError): string {
  switch (error.code) {
    case 'login_state_mismatch':
      return 'state'
    case 'login_failed': {
      const text = `${error.detail ?? ''} ${messages(error.cause)}`
      return VALIDATION_REASONS.find(([, pattern]) => pattern.test(text))?.[0] ?? 'other'
    }
    default:
      return error.code
  }
}
