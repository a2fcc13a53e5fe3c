import type { ActiveSession } from '../session/types.js'

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
    /** Set when the proxy wrote the answer straight to the node response (already sent). */
    proxiedStatus: number
    /** The error code of an error answer (errors/render.ts), for the request's span. */
    errorCode: string
    /** The /api route's configured prefix, once a request matched one (the span's route). */
    apiPrefix: string
  }
}
