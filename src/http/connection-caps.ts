import type { Server, Socket } from 'node:net'
import type { ServerLimits } from '../config/server-limits.js'
import { addressBucket, normaliseAddress, trustedProxies } from '../lib/client-address.js'

export type ConnectionRefusal = 'max_connections' | 'max_connections_per_address'

export interface ConnectionEvents {
  refused(reason: ConnectionRefusal): void
  opened(): void
  closed(): void
}

export interface ConnectionCapsOptions {
  limits: Pick<ServerLimits, 'maxConnections' | 'maxConnectionsPerAddress'>
  /** CIDR ranges: one such peer carries many clients, so it is counted only in the total. */
  trustedProxies: readonly string[]
  events: ConnectionEvents
}

/**
 * Caps open connections in all and per client address (the TCP peer, an IPv6 peer by its /64),
 * counted when the connection arrives, before a byte is read. Past a cap the new connection is
 * closed at once: holding it, or answering it, would spend the descriptors the cap protects.
 */
export function guardConnections(server: Server, options: ConnectionCapsOptions): void {
  const { limits, events } = options
  const trusted = trustedProxies(options.trustedProxies)
  const perAddress = new Map<string, number>()
  // Past maxConnections Node closes the connection before making a socket of it, and says 'drop'.
  server.maxConnections = limits.maxConnections
  server.on('drop', () => events.refused('max_connections'))
  server.on('connection', (socket: Socket) => {
    const peer = socket.remoteAddress
    if (peer === undefined) {
      socket.destroy() // already reset by the peer: nothing to serve, nothing to count
      return
    }
    const bucket = trusted.has(normaliseAddress(peer)) ? undefined : addressBucket(peer)
    if (bucket !== undefined) {
      const open = perAddress.get(bucket) ?? 0
      if (open >= limits.maxConnectionsPerAddress) {
        events.refused('max_connections_per_address')
        socket.destroy()
        return
      }
      perAddress.set(bucket, open + 1)
    }
    events.opened()
    socket.once('close', () => {
      events.closed()
      if (bucket === undefined) return
      const left = (perAddress.get(bucket) ?? 1) - 1
      if (left > 0) perAddress.set(bucket, left)
      else perAddress.delete(bucket) // the map holds only addresses with open connections
    })
  })
}
