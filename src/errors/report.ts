import type { Logger } from 'pino'
import { BffError } from './bff-error.js'

/**
 * The log line of a request that ended in an error: a warning for the broker's own 5xx
 * answers (store, provider or upstream trouble), an error with the stack for anything
 * unexpected. Client errors (4xx) are answers, not incidents, and are not logged here.
 */
export function reportRequestError(
  logger: Logger,
  error: unknown,
  requestId: string | undefined,
): void {
  if (error instanceof BffError) {
    if (error.status >= 500)
      logger.warn(
        { event: 'request.failed', code: error.code, detail: error.detail, requestId },
        'request failed',
      )
  } else {
    logger.error({ event: 'request.unhandled', err: error }, 'unhandled error')
  }
}
