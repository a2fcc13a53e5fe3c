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
