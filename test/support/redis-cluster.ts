import { execFile, spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { freePort } from './free-port.js'
import { startRedis, type TestRedis } from './redis.js'

const run = promisify(execFile)

export interface TestRedisCluster {
  nodes: string[]
  stop(): Promise<void>
}

/** Whether this machine's redis-cli can create a cluster (`redis-cli --cluster`, Redis ≥ 5). */
export function clusterToolingAvailable(): boolean {
  const help = spawnSync('redis-cli', ['--cluster', 'help'], { encoding: 'utf8' })
  return help.status === 0 || /create/.test(`${help.stdout}${help.stderr}`)
}

/** Three masters, no replicas, every slot assigned: the smallest real Redis Cluster. */
export async function startRedisCluster(): Promise<TestRedisCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), 'bff-cluster-'))
  const servers: TestRedis[] = []
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort()
      servers.push(
        await startRedis({
          port,
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            path.join(dir, `nodes-${port}.conf`),
            '--cluster-node-timeout',
            '2000',
          ],
        }),
      )
    }
    const nodes = servers.map((s) => `127.0.0.1:${s.port}`)
    await run('redis-cli', [
      '--cluster',
      'create',
      ...nodes,
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ])
    await waitForClusterOk(servers[0]?.port ?? 0)
    return {
      nodes,
      async stop() {
        await Promise.all(servers.map((s) => s.stop()))
        await rm(dir, { recursive: true, force: true })
      },
    }
  } catch (error) {
    await Promise.all(servers.map((s) => s.stop()))
    await rm(dir, { recursive: true, force: true })
    throw error
  }
}

async function waitForClusterOk(port: number) {
  const deadline = Date.now() + 15_000
  while (Date.now() < deadline) {
    const { stdout } = await run('redis-cli', ['-p', String(port), 'cluster', 'info'])
    if (stdout.includes('cluster_state:ok')) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error('the test cluster did not reach cluster_state:ok within 15 s')
}
