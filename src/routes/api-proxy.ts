import type { ServerResponse } from 'node:http'
import type { CsrfOptions } from '../middleware/csrf.js'
import type { NodeForwardOptions } from '../proxy/forward.js'
import type { InFlightLimit, Release } from '../proxy/in-flight.js'
import type { UpstreamTable } from '../proxy/upstreams.js'

/** What the /api route and its node-level lane share: one table, one pool, one set of headers. */
export interface ApiProxy {
  table: UpstreamTable
  forward: NodeForwardOptions
  csrf: CsrfOptions
  inFlight: InFlightLimit
}

/**
 * Under node, the session's slot goes back when the answer is done (sent, failed or
 * abandoned: 'close'); at once if the browser left while the request was being admitted.
 */
export function holdUntilAnswered(release: Release, outgoing: ServerResponse | undefined): void {
  if (!outgoing) return
  if (outgoing.destroyed) release()
  // 'on', not 'once': a response closes once, and once() wraps the listener per request.
  else outgoing.on('close', release)
}
