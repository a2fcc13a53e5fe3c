import { Cluster, Redis, type RedisOptions } from 'ioredis'

/** Where the store's Redis is: one server, a Cluster, or a master found through Sentinel. */
export type RedisTarget =
  | { url: string }
  | { clusterNodes: readonly string[]; password?: string }
  | { sentinels: readonly string[]; sentinelName: string; password?: string }

export type RedisClient = Redis | Cluster

function hostPort(node: string): { host: string; port: number } {
  const at = node.lastIndexOf(':')
  return { host: node.slice(0, at), port: Number(node.slice(at + 1)) }
}

/**
 * Fail fast rather than queue: no offline queue, one retry per command, a command timeout,
 * and quick reconnects (back within half a second of Redis returning).
 */
export function clientOptions(commandTimeoutMs: number): RedisOptions {
  return {
    // Commands issued in the same tick share one write: many concurrent requests, few syscalls.
    enableAutoPipelining: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 50, 500),
  }
}

export function createRedisClient(target: RedisTarget, options: RedisOptions): RedisClient {
  if ('clusterNodes' in target) {
    return new Cluster(target.clusterNodes.map(hostPort), {
      // No auto-pipelining on Cluster: ioredis then sends the Lua scripts as EVALSHA inside
      // per-node pipelines without making sure that node has loaded them, and a node that has
      // not answers NOSCRIPT (a failed session write). Outside a pipeline ioredis falls back
      // to EVAL. Reproduced by the cluster contract test under load.
      enableAutoPipelining: false,
      enableOfflineQueue: false,
      clusterRetryStrategy: (attempt) => Math.min(attempt * 50, 500),
      redisOptions: {
        ...options,
        enableAutoPipelining: false,
        ...(target.password ? { password: target.password } : {}),
      },
    })
  }
  if ('sentinels' in target) {
    return new Redis({
      ...options,
      sentinels: target.sentinels.map(hostPort),
      name: target.sentinelName,
      ...(target.password ? { password: target.password } : {}),
    })
  }
  return new Redis(target.url, options)
}

/** The servers holding data: every master of a Cluster, or the one server. */
export function dataNodes(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client]
}
