import type { IncomingHttpHeaders } from 'node:http'
import { askedNonce, type DpopKey } from '../oidc/dpop.js'
import type { UpstreamHeaders } from './headers.js'
import type { UpstreamTarget } from './upstreams.js'

/**
 * The upstream's credentials for one request: the access token as a bearer, or, when it is
 * DPoP-bound (RFC 9449 §7.1), with the `DPoP` scheme and a proof of the session's key for
 * this method and URL, so a copy of the token taken from the upstream's logs is useless.
 */
export function authorize(
  headers: UpstreamHeaders,
  method: string,
  target: UpstreamTarget,
  accessToken: string,
  dpop: DpopKey | undefined,
): void {
  if (!dpop) {
    headers.authorization = `Bearer ${accessToken}`
    return
  }
  headers.authorization = `DPoP ${accessToken}`
  headers.dpop = dpop.proof(method, target.origin, target.path, accessToken)
}

/** The upstream asked for a DPoP nonce: the request is sent again with it. */
export class NonceAsked extends Error {
  constructor() {
    super('the upstream asked for a DPoP nonce')
    this.name = 'NonceAsked'
  }
}

/** Judges an upstream's answer head: true to drop it and send the request again. */
export type RetryIf = (status: number, headers: IncomingHttpHeaders) => boolean

/**
 * Sends a request whose token may be DPoP-bound: every answer's DPoP-Nonce is learned, and
 * one that refuses the proof for want of a nonce (401 use_dpop_nonce, RFC 9449 §9) is
 * dropped and the request sent once more with a new proof, if its body can be sent again
 * (none, or read completely); a streamed one gets the refusal, and the next request the nonce.
 */
export function sentWithNonce<T>(
  dpop: DpopKey,
  target: UpstreamTarget,
  replayable: boolean,
  reauthorize: () => void,
  send: (retryIf: RetryIf) => Promise<T>,
): Promise<T> {
  const learn: RetryIf = (_status, headers) => {
    const nonce = headers['dpop-nonce']
    if (typeof nonce === 'string') dpop.learnNonce(target.origin, nonce)
    return false
  }
  if (!replayable) return send(learn)
  const learnOrRetry: RetryIf = (status, headers) => {
    learn(status, headers)
    return askedNonce(status, headers) !== undefined
  }
  return send(learnOrRetry).catch((error: unknown) => {
    if (!(error instanceof NonceAsked)) throw error
    reauthorize()
    return send(learn)
  })
}
