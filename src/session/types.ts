/** One access token and what the broker knows about it. Never logged, never sent to the browser. */
export interface AccessToken {
  accessToken: string
  tokenType: string
  /** Epoch ms when the access token expires (from expires_in, or the configured default). */
  accessTokenExpiresAt: number
  /** Epoch ms when it was obtained; with the expiry it gives the token's lifetime. */
  obtainedAt: number
  /** The scopes granted to it (RFC 6749 §5.1: absent when they are the ones asked for). */
  scope?: string
}

/** The tokens of one session. Never logged, never sent to the browser. */
export interface TokenSet extends AccessToken {
  refreshToken?: string
  idToken?: string
  /**
   * Access tokens for other audiences (RFC 8707 resource indicators), by resource URI, each
   * obtained with this session's refresh token for a route that names that resource.
   */
  resources?: Record<string, AccessToken>
  /**
   * RFC 9449: this session's DPoP private key (a P-256 JWK as JSON), when DPoP is on: the
   * tokens are bound to it, so a copy of them is useless without it.
   */
  dpopKey?: string
}

/** What the store holds for one signed-in browser. */
export interface SessionData {
  iss: string
  sub: string
  sid?: string
  /** Claims the UI may see (an allow-list of ID token claims). */
  claims: Record<string, unknown>
  /** Epoch seconds the provider last authenticated the user (ID token auth_time), if it said. */
  authTime?: number
  /** Authentication context class the provider reached (ID token acr), if it said. */
  acr?: string
  tokens: TokenSet
  createdAt: number
  absoluteExpiresAt: number
}

export interface StoredSession extends SessionData {
  /** Incremented on every write of the token set; the compare-and-set guard of refresh. */
  version: number
  /** Epoch ms of the last sliding renewal (not of every request). */
  lastSeenAt: number
}

/** A session of this request: its store key and its record, tokens opened. */
export interface ActiveSession {
  /** Store key: a hash of the session id, so a store dump reveals no cookie-usable id. */
  key: string
  record: StoredSession
}

/** What one sign-in asked of the provider beyond configuration (GET /auth/login's parameters). */
export interface LoginDemands {
  /** acr_values sent: the ID token's acr must be one of them. */
  acrValues?: string[]
  /** max_age sent, in seconds: the ID token's auth_time must be that recent. */
  maxAge?: number
  /** prompt=none: every outcome returns to the app as a query parameter, never an error page. */
  silent?: boolean
}

/** One sign-in in flight, keyed by its `state`. */
export interface LoginTransaction {
  codeVerifier: string
  nonce: string
  returnTo: string
  /** sha256 of the browser-binding value held in this browser's transaction cookie. */
  bindingHash: string
  createdAt: number
  /** Store key of a session this browser held when it started signing in (fixation defence). */
  previousSessionKey?: string
  demands?: LoginDemands
}

/** A session as printed in logs: never the tokens. */
export function describeSession(session: StoredSession): Record<string, unknown> {
  return {
    sub: session.sub,
    version: session.version,
    accessToken: Boolean(session.tokens.accessToken),
    refreshToken: Boolean(session.tokens.refreshToken),
    idToken: Boolean(session.tokens.idToken),
    resourceTokens: Object.keys(session.tokens.resources ?? {}).length,
    dpop: Boolean(session.tokens.dpopKey),
  }
}
