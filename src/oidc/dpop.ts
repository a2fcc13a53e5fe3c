import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  randomBytes,
  sign,
  webcrypto,
} from 'node:crypto'
import * as oidc from 'openid-client'
import { BoundedCache } from '../lib/bounded-cache.js'

/** RFC 9449: whether sessions get a DPoP key (config: OIDC_DPOP). */
export const DPOP_MODES = ['off', 'auto', 'always'] as const

/** The one algorithm the broker signs proofs with (P-256 keys: small, fast, everywhere). */
export const DPOP_ALG = 'ES256'

/** Upstream origins whose latest DPoP nonce is remembered. */
const MAX_NONCE_ORIGINS = 64

const base64url = (value: Buffer | string) => Buffer.from(value).toString('base64url')

/** A new P-256 private key as a JWK (JSON): what a session's token set keeps, encrypted. */
export function newDpopKey(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return JSON.stringify(privateKey.export({ format: 'jwk' }))
}

/**
 * The latest DPoP nonce each upstream origin gave (RFC 9449 §9), shared by every session's
 * key: a resource server's nonce is usually its own, not a client's, so one refusal teaches
 * every session. A server with nonces per client refuses another's once more, and is answered.
 */
export class DpopNonces {
  readonly #nonces = new Map<string, string>()

  get(origin: string): string | undefined {
    return this.#nonces.get(origin)
  }

  learn(origin: string, nonce: string): void {
    this.#nonces.delete(origin)
    if (this.#nonces.size >= MAX_NONCE_ORIGINS) {
      this.#nonces.delete(this.#nonces.keys().next().value as string)
    }
    this.#nonces.set(origin, nonce)
  }
}

/**
 * One session's DPoP key: signs proofs for upstream requests (with `ath` and the origin's
 * nonce) and lends itself to openid-client for token requests.
 */
export class DpopKey {
  /** RFC 7638 thumbprint of the public key: what a bound token's cnf.jkt names. */
  readonly thumbprint: string
  readonly #private: KeyObject
  readonly #publicJwk: JsonWebKey
  readonly #header: string
  readonly #nonces: DpopNonces
  #handle: Promise<oidc.DPoPHandle> | undefined

  constructor(privateJwk: string, nonces = new DpopNonces()) {
    this.#nonces = nonces
    this.#private = createPrivateKey({ key: JSON.parse(privateJwk) as JsonWebKey, format: 'jwk' })
    const { crv, kty, x, y } = createPublicKey(this.#private).export({ format: 'jwk' })
    this.#publicJwk = { crv, kty, x, y }
    this.thumbprint = base64url(
      createHash('sha256').update(JSON.stringify({ crv, kty, x, y })).digest(),
    )
    this.#header = base64url(
      JSON.stringify({ typ: 'dpop+jwt', alg: DPOP_ALG, jwk: this.#publicJwk }),
    )
  }

  /**
   * A DPoP proof JWT (RFC 9449 §4.2) for one request: `htu` without query or fragment, `ath`
   * when it presents an access token, and the nonce this origin last gave, if any.
   */
  proof(method: string, origin: string, path: string, accessToken?: string): string {
    const query = path.indexOf('?')
    const nonce = this.#nonces.get(origin)
    const payload = {
      jti: base64url(randomBytes(16)),
      htm: method,
      htu: `${origin}${query === -1 ? path : path.slice(0, query)}`,
      // The system clock, not the injected one: the resource server checks iat against its own.
      iat: Math.floor(Date.now() / 1000),
      ...(accessToken !== undefined && {
        ath: base64url(createHash('sha256').update(accessToken).digest()),
      }),
      ...(nonce !== undefined && { nonce }),
    }
    const input = `${this.#header}.${base64url(JSON.stringify(payload))}`
    const signature = sign('sha256', Buffer.from(input), {
      key: this.#private,
      dsaEncoding: 'ieee-p1363',
    })
    return `${input}.${base64url(signature)}`
  }

  /** A server's DPoP-Nonce answer header: the next proof to its origin carries it. */
  learnNonce(origin: string, nonce: string): void {
    this.#nonces.learn(origin, nonce)
  }

  /**
   * openid-client's handle for token requests with this key: one per key, so the nonce the
   * provider gave at the code exchange or a refresh is used on the next refresh.
   */
  handle(configuration: oidc.Configuration): Promise<oidc.DPoPHandle> {
    this.#handle ??= this.#newHandle(configuration)
    return this.#handle
  }

  async #newHandle(configuration: oidc.Configuration): Promise<oidc.DPoPHandle> {
    const jwk = this.#private.export({ format: 'jwk' })
    const algorithm = { name: 'ECDSA', namedCurve: 'P-256' }
    const [privateKey, publicKey] = await Promise.all([
      webcrypto.subtle.importKey('jwk', jwk, algorithm, false, ['sign']),
      webcrypto.subtle.importKey('jwk', this.#publicJwk, algorithm, true, ['verify']),
    ])
    return oidc.getDPoPHandle(configuration, { privateKey, publicKey })
  }
}

/**
 * The keys of recent sessions, parsed once each (a JWK import and a thumbprint per request
 * would cost more than the proof). Keyed by the private JWK itself, which never leaves memory.
 */
export class DpopKeys {
  readonly #cache = new BoundedCache<DpopKey>(10_000)
  readonly #nonces = new DpopNonces()

  of(privateJwk: string): DpopKey {
    let key = this.#cache.get(privateJwk)
    if (!key) {
      key = new DpopKey(privateJwk, this.#nonces)
      this.#cache.set(privateJwk, key, Number.POSITIVE_INFINITY)
    }
    return key
  }
}

/** Whether a token response's token is DPoP-bound (RFC 9449 §5: token_type DPoP). */
export function isDpopBound(tokenType: string): boolean {
  return tokenType.toLowerCase() === 'dpop'
}

/**
 * An upstream's answer asks for a nonce (RFC 9449 §9): 401 with a DPoP challenge whose
 * error is use_dpop_nonce, and the nonce in DPoP-Nonce.
 */
export function askedNonce(
  status: number,
  headers: Record<string, string | string[] | undefined>,
): string | undefined {
  const nonce = headers['dpop-nonce']
  if (status !== 401 || typeof nonce !== 'string') return undefined
  const challenge = [headers['www-authenticate'] ?? []].flat().join(', ')
  return /\bDPoP\b[\s\S]*error\s*=\s*"?use_dpop_nonce"?/i.test(challenge) ? nonce : undefined
}
