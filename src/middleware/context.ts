import type { ActiveSession } from '../session/session-service.js'

/** What the broker's middleware makes available to later handlers. */
export interface BffRequestSession {
  sub: string
  claims: Readonly<Record<string, unknown>>
  /** A fresh access token, refreshed first when it is about to expire. */
  accessToken(): Promise<string>
}

declare module 'hono' {
  interface ContextVariableMap {
    requestId: string
    activeSession: ActiveSession
    bff: BffRequestSession
  }
}
