import type { Context } from 'hono'
import { escapeHtml, page } from '../lib/html.js'
import { type BffError, toBffError } from './bff-error.js'
import { RETRY_AFTER_SECONDS } from './codes.js'

export interface ErrorBody {
  error: string
  message: string
  request_id?: string
  /** A refusal's public fields (step_up_required: login_url, acr_values, max_age). */
  [field: string]: string | number | undefined
}

/** Refusals that leave a request body unread: the connection closes rather than drain it. */
const BODY_LEFT_UNREAD = new Set(['request_timeout', 'payload_too_large', 'server_busy'])

/**
 * Cache-Control and, for 429 and 503, Retry-After: what every error answer carries; and
 * `Connection: close` when the request's body was not read (a slow or oversized sender
 * would otherwise keep the socket while node drains it).
 */
export function errorHeaders(err: BffError): Record<string, string> {
  const headers: Record<string, string> = { 'cache-control': 'no-store' }
  const retryAfter = err.retryAfterSeconds ?? (err.status === 503 ? RETRY_AFTER_SECONDS : undefined)
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter)
  if (BODY_LEFT_UNREAD.has(err.code)) headers.connection = 'close'
  if (err.wwwAuthenticate) headers['www-authenticate'] = err.wwwAuthenticate
  return headers
}

function commonHeaders(c: Context, err: BffError): void {
  c.set('errorCode', err.code)
  for (const [name, value] of Object.entries(errorHeaders(err))) c.header(name, value)
}

/** The JSON error body: the code, the public text, and the request id for support. */
export function jsonErrorBody(err: BffError, requestId: string | undefined): ErrorBody {
  return {
    ...err.publicFields,
    error: err.code,
    message: err.expose ? err.message : 'Something went wrong.',
    ...(requestId ? { request_id: requestId } : {}),
  }
}

/** JSON answer for API calls and /auth/user. */
export function renderJsonError(c: Context, error: unknown): Response {
  const err = toBffError(error)
  commonHeaders(c, err)
  return c.json(jsonErrorBody(err, c.get('requestId')), err.status as 400)
}

/** HTML answer for browser navigations (login, callback): readable, with a way back. */
export function renderErrorPage(c: Context, error: unknown): Response {
  const err = toBffError(error)
  commonHeaders(c, err)
  const message = err.expose ? err.message : 'Something went wrong.'
  const requestId = c.get('requestId')
  const html = page(
    'Sign-in problem',
    `<main>
<h1>Sign-in problem</h1>
<p>${escapeHtml(message)}</p>
<p>Error code: <code>${escapeHtml(err.code)}</code>${requestId ? ` · request id <code>${escapeHtml(requestId)}</code>` : ''}</p>
<p><a href="/">Back to the app</a></p>
</main>`,
  )
  return c.html(html, err.status as 400)
}
