import { createHash, randomBytes } from 'node:crypto'
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify } from 'jose'

/** What a resource server checks of a DPoP-bound request (RFC 9449 §7.1). */
export interface DpopRequest {
  method: string
  /** The request's URL as the server knows itself: origin and path, no query. */
  htu: string
  /** The `DPoP` header, if any. */
  proof: string | undefined
  accessToken: string
  /** The token's cnf.jkt: the thumbprint of the key it is bound to. */
  jkt: string
}

export type DpopVerdict =
  | { ok: true }
  | { ok: false; error: 'invalid_dpop_proof' | 'use_dpop_nonce'; detail: string; nonce?: string }

const PROOF_ALGORITHMS = ['ES256', 'ES384', 'PS256', 'RS256', 'EdDSA']
const IAT_WINDOW_SECONDS = 60

/**
 * The demo API's DPoP checks, as a resource server does them: a proof signed by the key the
 * token is bound to, for this method and URL and this token (ath), recent, never seen before
 * (jti), and with the current nonce when nonces are required.
 */
export class DpopProofs {
  readonly #seen = new Map<string, number>()
  readonly #requireNonce: boolean
  #nonce = randomBytes(16).toString('base64url')

  constructor({ requireNonce = false }: { requireNonce?: boolean } = {}) {
    this.#requireNonce = requireNonce
  }

  /** A new nonce: proofs made with the old one are refused with use_dpop_nonce. */
  rotateNonce(): void {
    this.#nonce = randomBytes(16).toString('base64url')
  }

  async check(request: DpopRequest): Promise<DpopVerdict> {
    const refuse = (detail: string): DpopVerdict => ({
      ok: false,
      error: 'invalid_dpop_proof',
      detail,
    })
    if (!request.proof) return refuse('no DPoP proof')
    let payload: Record<string, unknown>
    let jwk: Record<string, unknown>
    try {
      const verified = await jwtVerify(request.proof, EmbeddedJWK, {
        typ: 'dpop+jwt',
        algorithms: PROOF_ALGORITHMS,
      })
      payload = verified.payload
      jwk = verified.protectedHeader.jwk as Record<string, unknown>
    } catch (error) {
      return refuse(`proof signature: ${(error as Error).message}`)
    }
    if (payload.htm !== request.method) return refuse('htm mismatch')
    if (payload.htu !== request.htu) return refuse(`htu mismatch: ${String(payload.htu)}`)
    const now = Math.floor(Date.now() / 1000)
    if (typeof payload.iat !== 'number' || Math.abs(now - payload.iat) > IAT_WINDOW_SECONDS) {
      return refuse('iat not recent')
    }
    const ath = createHash('sha256').update(request.accessToken).digest('base64url')
    if (payload.ath !== ath) return refuse('ath mismatch')
    if ((await calculateJwkThumbprint(jwk)) !== request.jkt) {
      return refuse('proof key is not the key the token is bound to')
    }
    if (this.#requireNonce && payload.nonce !== this.#nonce) {
      return { ok: false, error: 'use_dpop_nonce', detail: 'nonce required', nonce: this.#nonce }
    }
    if (typeof payload.jti !== 'string' || this.#replayed(payload.jti, now)) {
      return refuse('jti missing or replayed')
    }
    return { ok: true }
  }

  #replayed(jti: string, now: number): boolean {
    for (const [seen, until] of this.#seen) if (until < now) this.#seen.delete(seen)
    if (this.#seen.has(jti)) return true
    this.#seen.set(jti, now + 2 * IAT_WINDOW_SECONDS)
    return false
  }
}
