// The whole client side of the BFF pattern. The browser never sees a token: it sends the
// session cookie to its own origin and the broker attaches the access token upstream.

export type SignedOutReason = 'unauthenticated' | 'session_expired'

let signedOutHandler: (reason: SignedOutReason) => void = () => {}

/** Register what the app does when the broker says the session is gone (a 401 but step_up_required). */
export function onSignedOut(handler: (reason: SignedOutReason) => void): void {
  signedOutHandler = handler
}

/** fetch() for same-origin broker endpoints (`/api/**`, `/auth/user`). */
export async function bffFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers)
  // A custom header forces a CORS preflight for cross-origin callers, which the broker
  // never grants: this is the CSRF defence, so every call must carry it.
  headers.set('X-CSRF', '1')
  const response = await fetch(path, {
    ...init,
    headers,
    credentials: 'same-origin',
    // Personal data must not sit in the HTTP cache, and Chromium serialises identical
    // concurrent GETs that could be served from it.
    cache: 'no-store',
  })
  if (response.status === 401) {
    const body = await readError(response)
    if (body.error === 'step_up_required' && typeof body.login_url === 'string') {
      if (stepUp(body.login_url)) return new Promise<Response>(() => {}) // the page is leaving
    } else {
      signedOutHandler(body.error === 'session_expired' ? 'session_expired' : 'unauthenticated')
    }
  }
  return response
}

const STEP_UP_KEY = 'bff-step-up'
const STEP_UP_RETRY_MS = 60_000

/**
 * The route needs a stronger or more recent sign-in: go to the broker's `login_url` (it asks
 * the provider for exactly that) and come back here. Not twice for the same demand within a
 * minute, so a provider that cannot step the user up never sends the page round in circles:
 * the caller gets the 401 instead. Returns whether the page is navigating away.
 */
function stepUp(loginUrl: string): boolean {
  const last = JSON.parse(sessionStorage.getItem(STEP_UP_KEY) ?? 'null') as {
    loginUrl: string
    at: number
  } | null
  if (last?.loginUrl === loginUrl && Date.now() - last.at < STEP_UP_RETRY_MS) return false
  sessionStorage.setItem(STEP_UP_KEY, JSON.stringify({ loginUrl, at: Date.now() }))
  const returnTo = location.pathname + location.search
  location.assign(`${loginUrl}&returnTo=${encodeURIComponent(returnTo)}`)
  return true
}

/** Start login: a real navigation, never fetch, so the broker can redirect to the IdP. */
export function signIn(returnTo = location.pathname + location.search): void {
  location.href = `/auth/login?returnTo=${encodeURIComponent(returnTo)}`
}

const SILENT_OUTCOME = 'silent_login'

/**
 * Silent sign-in (prompt=none): the provider shows nothing and the broker sends the browser
 * back here with `silent_login=<outcome>` (signed_in, login_required, consent_required, …):
 * a signed-in session when the provider still has one, never an error page.
 */
export function signInSilently(returnTo = location.pathname + location.search): void {
  location.href = `/auth/login?prompt=none&returnTo=${encodeURIComponent(returnTo)}`
}

/** The outcome of a silent sign-in this page load returned from, removed from the address bar. */
export function takeSilentOutcome(): string | undefined {
  const url = new URL(location.href)
  const outcome = url.searchParams.get(SILENT_OUTCOME) ?? undefined
  if (outcome === undefined) return undefined
  url.searchParams.delete(SILENT_OUTCOME)
  history.replaceState(history.state, '', url.pathname + url.search + url.hash)
  return outcome
}

/**
 * Log out with a plain form POST (a top-level navigation): the broker answers a page that
 * posts the sign-out on to the provider's end-session endpoint, which fetch could not follow
 * (and whose ID token a script must never see). The browser's `Origin` header proves it is us.
 * `everywhere` ends every session of this user, on all devices.
 */
export function signOut({ everywhere = false }: { everywhere?: boolean } = {}): void {
  const form = document.createElement('form')
  form.method = 'post'
  form.action = everywhere ? '/auth/logout?scope=all' : '/auth/logout'
  form.hidden = true
  document.body.append(form)
  form.submit()
}

async function readError(response: Response): Promise<{ error?: unknown; login_url?: unknown }> {
  // Read a clone so the caller can still consume the body.
  const body: unknown = await response
    .clone()
    .json()
    .catch(() => null)
  return typeof body === 'object' && body !== null ? body : {}
}
