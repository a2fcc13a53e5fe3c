import { BffError } from '../errors/bff-error.js'
import type { ErrorCode } from '../errors/codes.js'
import type { CircuitBreaker } from './circuit-breaker.js'

/**
 * The answer for a call a circuit refused without trying: the dependency's usual 503 code,
 * with Retry-After until the circuit's next probe. Logged once per transition by the circuit,
 * not per refused call.
 */
export class CircuitOpenError extends BffError {
  constructor(code: ErrorCode, circuit: CircuitBreaker) {
    super(code, {
      detail: `${circuit.name} circuit open`,
      retryAfterSeconds: circuit.retryAfterSeconds,
    })
  }
}
