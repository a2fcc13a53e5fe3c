import { Agent, fetch as undiciFetch } from 'undici'
import { type CookieAccess, CookieJar, type StoredCookie } from './cookie-jar.js'
import { type HtmlForm, parseForms } from './html-form.js'
import { sameSite } from './site.js'

export interface BrowserRequestInit extends RequestInit {
  /**
   * Origin of the page that made the request. Omitted means typed in the address bar,
   * which counts as same-site for everything.
   */
  initiator?: string
  /** A top-level page load (default) or a script's fetch from the initiator's page. */
  kind?: 'navigation' | 'fetch'
}

export interface FollowOptions {
  maxRedirects?: number
  /** Stop (without following) at the first response whose URL matches. */
  stopAt?: (url: URL) => boolean
}

export interface LoginOptions {
  brokerUrl: string
  username: string
  password: string
  returnTo?: string
  consent?: 'allow' | 'deny'
  /** More GET /auth/login parameters (acr_values, max_age, prompt). */
  loginParams?: Record<string, string>
  /** Typed into the provider's one-time code field when its login page has one (step-up). */
  oneTimeCode?: string
}

export interface LoginResult {
  callbackResponse: Response
  callbackUrl: string
}

const REDIRECTS = new Set([301, 302, 303, 307, 308])

/** Whether a URL is the broker's callback (where a sign-in's redirects stop). */
function callbackOf(broker: URL): (url: URL) => boolean {
  const callbackPath = `${broker.pathname.replace(/\/$/, '')}/auth/callback`
  return (url) => url.origin === broker.origin && url.pathname === callbackPath
}
/** Carries the Fetch Metadata mode to the dispatcher below (fetch itself forces `cors`). */
const MODE_HEADER = 'x-http-browser-fetch-mode'

/**
 * Sends what a browser sends as Fetch Metadata mode and destination: `navigate`/`document` for
 * a page load or form submission, `cors`/`empty` for a script's fetch. Node's fetch writes
 * `Sec-Fetch-Mode: cors` on every request whatever the caller set, so the value rides in
 * MODE_HEADER and is swapped in here, below fetch.
 */
const dispatcher = new Agent().compose((dispatch) => (options, handler) => {
  const headers = { ...(options.headers as Record<string, string | string[] | undefined>) }
  const mode = headers[MODE_HEADER]
  if (typeof mode === 'string') {
    delete headers[MODE_HEADER]
    headers['sec-fetch-mode'] = mode
    headers['sec-fetch-dest'] = mode === 'navigate' ? 'document' : 'empty'
  }
  return dispatch({ ...options, headers }, handler)
})
const SAFE_METHODS = new Set(['GET', 'HEAD'])

/**
 * A small browser for Node tests: fetch plus a cookie jar that follows the rules that
 * matter to a BFF (host-only, Path, expiry, Secure on loopback, __Host- prefix and
 * SameSite across redirect chains). It never runs scripts.
 */
export class HttpBrowser {
  readonly jar = new CookieJar()
  lastResponse: Response | undefined
  lastUrl: string | undefined
  /** Every request this browser sent and the head of its answer, in order. */
  readonly history: Array<{ method: string; url: string; status: number; headers: Headers }> = []

  cookie(name: string): StoredCookie | undefined {
    return this.jar.all().find((c) => c.name === name)
  }

  cookies(): StoredCookie[] {
    return this.jar.all()
  }

  cookieHeaderFor(url: string): string {
    return this.jar.header(new URL(url))
  }

  /** One request, no redirect following. */
  request(url: string, init: BrowserRequestInit = {}): Promise<Response> {
    const chain = init.initiator ? [new URL(init.initiator)] : []
    return this.#send(new URL(url), init, chain)
  }

  /** Follows 301/302/303/307/308 across hosts like a browser (303, and POST on 301/302, become GET). */
  async follow(url: string, init: BrowserRequestInit = {}, options: FollowOptions = {}) {
    const { maxRedirects = 20, stopAt } = options
    const chain = init.initiator ? [new URL(init.initiator)] : []
    let target = new URL(url)
    let current: BrowserRequestInit = init
    for (let hop = 0; ; hop++) {
      const response = await this.#send(target, current, chain)
      const location = response.headers.get('location')
      if (!REDIRECTS.has(response.status) || !location || stopAt?.(target)) return response
      if (hop >= maxRedirects) throw new Error(`more than ${maxRedirects} redirects from ${url}`)
      await response.body?.cancel()
      chain.push(target)
      current = redirectedInit(current, response.status)
      target = new URL(location, target)
    }
  }

  /** Submits a parsed form from the page at pageUrl and follows the redirects. */
  submitForm(
    form: HtmlForm,
    pageUrl: string,
    values: Record<string, string> = {},
    options: FollowOptions = {},
  ): Promise<Response> {
    const body = new URLSearchParams({ ...form.fields, ...values })
    const initiator = new URL(pageUrl).origin
    if (form.method === 'GET') {
      const action = new URL(form.action)
      action.search = body.toString()
      return this.follow(action.href, { initiator }, options)
    }
    const headers = { 'content-type': 'application/x-www-form-urlencoded' }
    return this.follow(form.action, { method: 'POST', body, headers, initiator }, options)
  }

  /**
   * Logs in through the broker and the dev provider's pages, and stops at the
   * broker's callback response without following it.
   */
  async login(options: LoginOptions): Promise<LoginResult> {
    const broker = new URL(options.brokerUrl)
    const base = broker.pathname.replace(/\/$/, '')
    const loginUrl = new URL(`${base}/auth/login`, broker)
    if (options.returnTo !== undefined) loginUrl.searchParams.set('returnTo', options.returnTo)
    for (const [name, value] of Object.entries(options.loginParams ?? {})) {
      loginUrl.searchParams.set(name, value)
    }
    const stopAt = callbackOf(broker)
    const response = await this.follow(loginUrl.href, { initiator: broker.origin }, { stopAt })
    return this.finishLogin(response, options)
  }

  /**
   * Goes on with a sign-in from the provider's page `response` (the last one followed): fills
   * in its login and consent forms and stops at the broker's callback response.
   */
  async finishLogin(page: Response, options: LoginOptions): Promise<LoginResult> {
    const stopAt = callbackOf(new URL(options.brokerUrl))
    let response = page
    let triedPassword = false
    for (let step = 0; step < 5; step++) {
      const pageUrl = this.lastUrl ?? options.brokerUrl
      if (stopAt(new URL(pageUrl))) return { callbackResponse: response, callbackUrl: pageUrl }
      const html = await response.text()
      const forms = response.status === 200 ? parseForms(html, pageUrl) : []
      const loginForm = forms.find((form) => form.passwordFields.length > 0)
      const consentForm = forms.find((form) => form.buttons.some((b) => b.name === 'decision'))
      if (loginForm) {
        if (triedPassword) throw new Error(`login refused for ${options.username}: ${text(html)}`)
        triedPassword = true
        const values = {
          username: options.username,
          password: options.password,
          ...('code' in loginForm.fields && { code: options.oneTimeCode ?? '' }),
        }
        response = await this.submitForm(loginForm, pageUrl, values, { stopAt })
      } else if (consentForm) {
        const values = { decision: options.consent ?? 'allow' }
        response = await this.submitForm(consentForm, pageUrl, values, { stopAt })
      } else {
        throw new Error(`login stuck at ${pageUrl} (${response.status}): ${text(html)}`)
      }
    }
    throw new Error(`login did not reach ${options.brokerUrl} /auth/callback`)
  }

  /**
   * Opens the provider's end-session URL and confirms the sign-out form, as the
   * page's script would; follows on to the post-logout redirect.
   */
  async confirmProviderLogout(
    endSessionUrl: string,
    options: FollowOptions & { initiator?: string } = {},
  ) {
    const { initiator, ...follow } = options
    const response = await this.follow(endSessionUrl, initiator ? { initiator } : {}, follow)
    const pageUrl = this.lastUrl ?? endSessionUrl
    if (response.status !== 200) return response
    const html = await response.text()
    const form = parseForms(html, pageUrl).find((f) => f.id === 'op.logoutForm')
    if (!form) throw new Error(`no logout form at ${pageUrl}: ${text(html)}`)
    return this.submitForm(form, pageUrl, {}, follow)
  }

  async #send(target: URL, init: BrowserRequestInit, chain: URL[]): Promise<Response> {
    const { initiator, kind = 'navigation', ...fetchInit } = init
    const method = (fetchInit.method ?? 'GET').toUpperCase()
    const headers = new Headers(fetchInit.headers)
    const cookies = this.jar.header(target, access(target, chain, kind, method))
    if (cookies) headers.set('cookie', cookies)
    if (!headers.has('sec-fetch-mode')) {
      headers.set(MODE_HEADER, kind === 'navigation' ? 'navigate' : 'cors')
    } else {
      headers.set(MODE_HEADER, headers.get('sec-fetch-mode') ?? 'cors')
    }
    if (initiator && !SAFE_METHODS.has(method) && !headers.has('origin')) {
      // A cross-site redirect hop makes the browser send an opaque origin.
      const crossed = chain.slice(1).some((hop) => hop.origin !== chain[0]?.origin)
      headers.set('origin', crossed ? 'null' : new URL(initiator).origin)
    }
    // undici's own fetch: its dispatcher must come from the same undici (Node's built-in fetch
    // with this package's Agent merges Set-Cookie headers into one).
    const response = (await undiciFetch(target, {
      signal: AbortSignal.timeout(10_000),
      ...(fetchInit as object),
      method,
      headers: Object.fromEntries(headers),
      redirect: 'manual',
      dispatcher,
    })) as unknown as Response
    this.jar.store(target, response.headers.getSetCookie())
    this.history.push({
      method,
      url: target.href,
      status: response.status,
      headers: response.headers,
    })
    this.lastResponse = response
    this.lastUrl = target.href
    return response
  }
}

/** RFC 6265bis §5.2: Strict needs every hop same-site; Lax also goes with top-level GETs. */
function access(target: URL, chain: URL[], kind: string, method: string): CookieAccess {
  if (chain.every((hop) => sameSite(hop, target))) return 'all'
  if (kind === 'navigation' && SAFE_METHODS.has(method)) return 'lax'
  return 'none-only'
}

function redirectedInit(init: BrowserRequestInit, status: number): BrowserRequestInit {
  const method = (init.method ?? 'GET').toUpperCase()
  const toGet =
    status === 303 ? method !== 'HEAD' : (status === 301 || status === 302) && method === 'POST'
  if (!toGet) return init
  const headers = new Headers(init.headers)
  headers.delete('content-type')
  headers.delete('content-length')
  headers.delete('origin')
  const { body: _body, ...rest } = init
  return { ...rest, method: 'GET', headers }
}

function text(html: string): string {
  return html
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, '')
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300)
}
