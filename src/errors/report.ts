import type { Logger } from 'pino'
import { CircuitOpenError } from '../resilience/circuit-open-error.js'
import { BffError } from './bff-error.js'

/**
 * The log line of a request that ended in an error: a warning for the broker's own 5xx
 * answers (store, provider or upstream trouble), an error with the stack for anything
 * unexpected. Client errors (4xx) are answers, not incidents, and are not logged here. A
 * call an open circuit refused is not an incident of its own either: the circuit logged its
 * opening once, and a line per refused request would flood the log during an outage (debug).
 */
export function reportRequestError(
  logger: Logger,
  error: unknown,
  requestId: string | undefined,
): void {
  if (error instanceof CircuitOpenError) {
    logger.debug({ event: 'request.refused', code: error.code, requestId }, 'circuit open')
  } else if (error instanceof BffError) {
    if (error.status >= 500)
      logger.warn(
        { event: 'request.failed', code: error.code, detail: error.detail, requestId },
        'request failed',
      )
  } else {
    logger.error({ event: 'request.unhandled', err: error }, 'unhandled error')
  }
}
