import { escapeHtml } from '../../src/lib/html.js'

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem}
label,input,button{display:block;width:100%;margin:.4rem 0}p.error{color:#b00020}</style></head>
<body><p><strong>Dev OpenID provider</strong> (not for production)</p>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>`
}

export interface LoginPageInput {
  action: string
  clientId: string
  username?: string
  error?: string
  /** A step-up: the one-time code is asked for as well. */
  twoFactor?: boolean
}

export function loginPage(input: LoginPageInput): string {
  const { action, clientId, username = '', error, twoFactor = false } = input
  const message = error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''
  const codeField = twoFactor
    ? `<label for="code">One-time code</label>
<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required>`
    : ''
  return page(
    twoFactor ? 'Confirm it is you' : 'Sign in',
    `<p>to continue to <code>${escapeHtml(clientId)}</code></p>
${message}
<form method="post" action="${escapeHtml(action)}" autocomplete="off">
<label for="username">Username</label>
<input id="username" name="username" value="${escapeHtml(username)}" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" required>
${codeField}
<button type="submit">Sign in</button>
</form>`,
  )
}

export interface ConsentPageInput {
  action: string
  clientId: string
  scopes: string[]
}

export function consentPage({ action, clientId, scopes }: ConsentPageInput): string {
  const items = scopes.map((scope) => `<li><code>${escapeHtml(scope)}</code></li>`).join('')
  return page(
    'Allow access?',
    `<p><code>${escapeHtml(clientId)}</code> asks for:</p>
<ul>${items}</ul>
<form method="post" action="${escapeHtml(action)}">
<button type="submit" name="decision" value="allow" autofocus>Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>`,
  )
}

/**
 * `form` comes from oidc-provider (hidden xsrf field, id op.logoutForm). The page
 * submits it by itself so a browser signs out without a click; HTTP tests post it.
 */
export function logoutPage(form: string): string {
  const autoSubmitting = form.replace(
    '</form>',
    '<input type="hidden" name="logout" value="yes"><button type="submit">Sign out</button></form>',
  )
  return page(
    'Signing out',
    `${autoSubmitting}
<script>document.getElementById('op.logoutForm').submit()</script>`,
  )
}

export function postLogoutPage(): string {
  return page('Signed out', '<p>You are signed out of the dev provider.</p>')
}

export function errorPage(out: Record<string, unknown>): string {
  const rows = Object.entries(out)
    .map(
      ([key, value]) => `<p><strong>${escapeHtml(key)}</strong>: ${escapeHtml(String(value))}</p>`,
    )
    .join('')
  return page('Something went wrong', rows)
}
