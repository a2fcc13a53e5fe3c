import { BffError } from './bff-error.js'

/** Wraps store failures so every caller answers 503 store_unavailable, never 500. */
export async function storeCall<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    // Refused by the store's circuit: already the answer (with its Retry-After).
    if (error instanceof BffError) throw error
    throw new BffError('store_unavailable', {
      detail: `${operation}: ${String(error)}`,
      cause: error,
    })
  }
}
