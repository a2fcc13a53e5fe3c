import { sha256 } from '../lib/random.js'

/**
 * The store key of a session id: its SHA-256, so a store dump holds no id a cookie could
 * carry (the cookie seals the id itself).
 */
export function sessionKey(sid: string): string {
  return sha256(sid)
}
