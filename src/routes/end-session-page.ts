import { createHash } from 'node:crypto'
import { escapeHtml, page } from '../lib/html.js'
import { endSessionPageCsp } from '../middleware/security-headers.js'
import type { EndSession } from '../oidc/end-session.js'

const FORM_ID = 'end-session'
/** The page's only script: it submits the form as soon as the page is parsed. */
const SUBMIT_SCRIPT = `document.getElementById('${FORM_ID}').submit()`
/** CSP3 hash source of that script: the page CSP allows exactly it, no other inline script. */
const SUBMIT_SCRIPT_HASH = `sha256-${createHash('sha256').update(SUBMIT_SCRIPT).digest('base64')}`

type PostEndSession = Extract<EndSession, { method: 'post' }>

/**
 * The answer to POST /auth/logout when the provider has an end_session_endpoint: a form that
 * carries id_token_hint, post_logout_redirect_uri, state and client_id to the provider in a
 * POST body (RP-Initiated Logout 1.0 §2), never in a URL, and submits itself. Without
 * JavaScript the user sees a button.
 */
export function endSessionPage(end: PostEndSession): string {
  const inputs = end.fields
    .map(
      ([name, value]) =>
        `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`,
    )
    .join('\n')
  return page(
    'Signing out…',
    `<form id="${FORM_ID}" method="post" action="${escapeHtml(end.action)}">
${inputs}
<noscript>
<p>You are signed out of this app. Continue to sign out at the identity provider too.</p>
<button type="submit">Continue</button>
</noscript>
</form>
<script>${SUBMIT_SCRIPT}</script>`,
  )
}

/** The page's CSP: the form may reach the end-session origin and come back to the app. */
export function endSessionCsp(end: PostEndSession, postLogoutRedirectUri: string): string {
  return endSessionPageCsp({
    scriptHash: SUBMIT_SCRIPT_HASH,
    formActionOrigins: [new URL(end.action).origin, new URL(postLogoutRedirectUri).origin],
  })
}
