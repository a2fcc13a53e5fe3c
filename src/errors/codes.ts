/**
 * Every error the broker answers with: one wire code, one status, one public text.
 * The text is safe to show to anyone; details go to the log only.
 */
export const errorCodes = {
  invalid_request: { status: 400, message: 'The request is malformed.' },
  invalid_token: {
    status: 400,
    message: 'The logout token is not valid, is not for this client, or was already used.',
  },
  invalid_return_to: { status: 400, message: 'returnTo must be a path on this site.' },
  invalid_login_request: {
    status: 400,
    message: 'This sign-in link asks for something the application does not allow.',
  },
  invalid_path: { status: 400, message: 'The request path is not allowed.' },
  login_state_mismatch: {
    status: 400,
    message:
      'This sign-in response does not match a sign-in started in this browser, or it was already used. Please sign in again.',
  },
  login_failed: {
    status: 400,
    message:
      'The sign-in response from the identity provider could not be verified. Please sign in again.',
  },
  provider_error: { status: 400, message: 'The identity provider did not complete the sign-in.' },
  unauthenticated: { status: 401, message: 'Sign-in required.' },
  session_expired: { status: 401, message: 'Your session has ended. Please sign in again.' },
  step_up_required: {
    status: 401,
    message: 'This API needs a stronger or more recent sign-in. Sign in again with login_url.',
  },
  csrf_failed: { status: 403, message: 'Cross-site request refused.' },
  forbidden: { status: 403, message: 'This account may not use this API.' },
  token_exchange_forbidden: {
    status: 403,
    message: 'The identity provider refused a token for this API to this account.',
  },
  websocket_disabled: {
    status: 403,
    message: 'This API route does not accept WebSocket connections.',
  },
  not_found: { status: 404, message: 'Not found.' },
  method_not_allowed: { status: 405, message: 'Method not allowed.' },
  request_timeout: { status: 408, message: 'The request body did not arrive in time.' },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  rate_limited: { status: 429, message: 'Too many requests. Try again shortly.' },
  too_many_in_flight: {
    status: 429,
    message: 'Too many requests of this session are in progress. Try again shortly.',
  },
  upstream_unavailable: { status: 502, message: 'The upstream API could not be reached.' },
  upstream_timeout: { status: 504, message: 'The upstream API did not answer in time.' },
  upstream_circuit_open: {
    status: 503,
    message: 'The upstream API is failing; the request was not sent. Try again shortly.',
  },
  store_unavailable: {
    status: 503,
    message: 'The session store is unavailable. Try again shortly.',
  },
  token_exchange_refused: {
    status: 502,
    message:
      'The identity provider refused to exchange a token for this API. The application’s setup at the provider needs fixing; signing in again will not help.',
  },
  provider_rejected_client: {
    status: 502,
    message:
      'The identity provider refused this application’s own credentials. Its registration at the provider needs fixing; signing in again will not help.',
  },
  provider_unavailable: {
    status: 503,
    message: 'The identity provider is unavailable. Try again shortly.',
  },
  server_busy: {
    status: 503,
    message: 'The server is busy. Try again shortly.',
  },
  lock_timeout: { status: 503, message: 'A token refresh is taking too long. Try again shortly.' },
  provider_misconfigured: {
    status: 500,
    message: 'The identity provider does not match the broker’s configuration.',
  },
  internal: { status: 500, message: 'Something went wrong.' },
} as const satisfies Record<string, { status: number; message: string }>

export type ErrorCode = keyof typeof errorCodes

/** Seconds a client should wait before retrying a 503. */
export const RETRY_AFTER_SECONDS = 2
