import { sha256 } from '../lib/random.js'
import type { SessionIndexQuery, SessionOwner } from './interfaces.js'

/*
 * Names of the back-channel logout indexes, shared by every store. The issuer and the id are
 * hashed together (as JSON, so no separator can be forged) into a Redis hash tag `{…}`: each
 * index is one key, so a Redis Cluster keeps all of one index's operations in one slot.
 */

function name(kind: 'sid' | 'sub', iss: string, id: string): string {
  return `idx:${kind}:{${sha256(JSON.stringify([iss, id]))}}`
}

export function indexName(query: SessionIndexQuery): string {
  return 'sid' in query ? name('sid', query.iss, query.sid) : name('sub', query.iss, query.sub)
}

/** Every index a session of `owner` belongs to. */
export function indexNamesOf(owner: SessionOwner): string[] {
  const names = [name('sub', owner.iss, owner.sub)]
  if (owner.sid) names.push(name('sid', owner.iss, owner.sid))
  return names
}
