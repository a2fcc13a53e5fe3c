import { type ErrorCode, errorCodes } from './codes.js'

export interface BffErrorOptions {
  /** Private detail for the log; never sent to the client. */
  detail?: string
  cause?: unknown
  /** Public text replacing the default one (must not contain secrets). */
  message?: string
  /** Seconds for the Retry-After header (429); a 503 gets RETRY_AFTER_SECONDS without it. */
  retryAfterSeconds?: number
  /** What a client needs to act on the refusal: public fields added to the JSON body. */
  publicFields?: Readonly<Record<string, string | number>>
  /** WWW-Authenticate header value (a 401 that names what would satisfy it). */
  wwwAuthenticate?: string
}

export class BffError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly expose: boolean
  readonly detail: string | undefined
  readonly retryAfterSeconds: number | undefined
  readonly publicFields: Readonly<Record<string, string | number>> | undefined
  readonly wwwAuthenticate: string | undefined

  constructor(code: ErrorCode, options: BffErrorOptions = {}) {
    super(options.message ?? errorCodes[code].message, { cause: options.cause })
    this.name = 'BffError'
    this.code = code
    this.status = errorCodes[code].status
    this.expose =
      this.status < 500 || this.status === 502 || this.status === 503 || this.status === 504
    this.detail = options.detail
    this.retryAfterSeconds = options.retryAfterSeconds
    this.publicFields = options.publicFields
    this.wwwAuthenticate = options.wwwAuthenticate
  }
}

/** Any thrown value as a BffError; unknown failures become `internal` with their text as detail. */
export function toBffError(error: unknown): BffError {
  return error instanceof BffError
    ? error
    : new BffError('internal', { cause: error, detail: String(error) })
}
