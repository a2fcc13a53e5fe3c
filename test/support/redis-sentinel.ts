import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { freePort } from './free-port.js'
import { startRedis } from './redis.js'

const run = promisify(execFile)

export interface TestRedisSentinel {
  sentinels: string[]
  masterName: string
  stop(): Promise<void>
}

/** A master and one sentinel monitoring it (quorum 1): enough to test discovery through Sentinel. */
export async function startRedisSentinel(): Promise<TestRedisSentinel> {
  const master = await startRedis()
  const dir = await mkdtemp(path.join(tmpdir(), 'bff-sentinel-'))
  const port = await freePort()
  const config = path.join(dir, 'sentinel.conf')
  await writeFile(
    config,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor bffmaster 127.0.0.1 ${master.port} 1`,
      'sentinel down-after-milliseconds bffmaster 5000',
      '',
    ].join('\n'),
  )
  const sentinel = spawn('redis-server', [config, '--sentinel'], { stdio: 'ignore' })
  const exited = once(sentinel, 'exit')
  const stop = async () => {
    if (sentinel.exitCode === null) sentinel.kill('SIGTERM')
    await exited
    await master.stop()
    await rm(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + 10_000
  for (;;) {
    const answer = await run('redis-cli', [
      '-p',
      String(port),
      'sentinel',
      'get-master-addr-by-name',
      'bffmaster',
    ]).catch(() => ({ stdout: '' }))
    if (answer.stdout.includes(String(master.port))) break
    if (Date.now() > deadline) {
      await stop()
      throw new Error('the test sentinel did not report its master within 10 s')
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return { sentinels: [`127.0.0.1:${port}`], masterName: 'bffmaster', stop }
}

export interface TestSentinelSet extends TestRedisSentinel {
  /** The port of the server that is a replica now. */
  replicaPort(): Promise<number>
  /** The port of the server that is primary now, as the sentinels report it. */
  primaryPort(): Promise<number>
  /** Kills the current primary (SIGKILL), as a crashed host would go. */
  killPrimary(): Promise<void>
}

const SET_MASTER = 'bffset'

async function sentinelAnswer(port: number, ...args: string[]): Promise<string> {
  const answer = await run('redis-cli', ['-p', String(port), 'sentinel', ...args]).catch(() => ({
    stdout: '',
  }))
  return answer.stdout
}

/**
 * A real Sentinel set on loopback: a primary, one replica, and three sentinels (quorum 2)
 * that mark the primary down after 1 s and promote the replica.
 */
export async function startSentinelSet(): Promise<TestSentinelSet> {
  // Both may become primary; a full sync starts at once (the default waits 5 s for more replicas).
  const sync = ['--repl-diskless-sync-delay', '0', '--enable-debug-command', 'local']
  const primary = await startRedis({ args: sync })
  const replica = await startRedis({
    args: [...sync, '--replicaof', '127.0.0.1', String(primary.port)],
  })
  const servers = new Map([
    [primary.port, primary],
    [replica.port, replica],
  ])
  const dir = await mkdtemp(path.join(tmpdir(), 'bff-sentinel-set-'))
  const ports = [await freePort(), await freePort(), await freePort()]
  const sentinels = await Promise.all(
    ports.map(async (port, i) => {
      const config = path.join(dir, `sentinel-${i}.conf`)
      await writeFile(
        config,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${SET_MASTER} 127.0.0.1 ${primary.port} 2`,
          `sentinel down-after-milliseconds ${SET_MASTER} 1000`,
          `sentinel failover-timeout ${SET_MASTER} 10000`,
          `sentinel parallel-syncs ${SET_MASTER} 1`,
          '',
        ].join('\n'),
      )
      const child = spawn('redis-server', [config, '--sentinel'], { stdio: 'ignore' })
      return { child, exited: once(child, 'exit') }
    }),
  )
  const stop = async () => {
    for (const { child, exited } of sentinels) {
      if (child.exitCode === null) child.kill('SIGTERM')
      await exited
    }
    for (const server of servers.values()) await server.stop()
    await rm(dir, { recursive: true, force: true })
  }
  const primaryPort = async () => {
    const answer = await sentinelAnswer(ports[0] as number, 'get-master-addr-by-name', SET_MASTER)
    return Number(answer.trim().split('\n')[1])
  }
  // Ready when the replica has synced and every sentinel knows the two others and the replica.
  const deadline = Date.now() + 20_000
  for (;;) {
    const link = await run('redis-cli', ['-p', String(replica.port), 'info', 'replication'])
      .then((answer) => answer.stdout)
      .catch(() => '')
    if (!link.includes('master_link_status:up')) {
      if (Date.now() > deadline) {
        await stop()
        throw new Error('the replica did not sync within 20 s')
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
      continue
    }
    const views = await Promise.all(
      ports.map(async (port) => ({
        sentinels: (await sentinelAnswer(port, 'sentinels', SET_MASTER))
          .split('\n')
          .filter((line) => line === 'name').length,
        replicas: (await sentinelAnswer(port, 'replicas', SET_MASTER)).includes(
          String(replica.port),
        ),
      })),
    )
    if (views.every((v) => v.sentinels >= 2 && v.replicas)) break
    if (Date.now() > deadline) {
      await stop()
      throw new Error('the sentinel set did not settle within 20 s')
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  return {
    sentinels: ports.map((port) => `127.0.0.1:${port}`),
    masterName: SET_MASTER,
    primaryPort,
    async replicaPort() {
      const primaryNow = await primaryPort()
      const other = [...servers.keys()].find((port) => port !== primaryNow)
      if (other === undefined) throw new Error('no replica left')
      return other
    },
    async killPrimary() {
      const port = await primaryPort()
      const server = servers.get(port)
      if (!server) throw new Error(`no server of ours on port ${port}`)
      await server.kill()
      servers.delete(port)
    },
    stop,
  }
}
