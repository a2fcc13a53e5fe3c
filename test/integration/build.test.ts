import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../support/free-port.js'
import {
  offlineServerEnv,
  type ServerProcess,
  startServerProcess,
} from '../support/server-process.js'
import { until } from '../support/until.js'

const run = promisify(execFile)

/*
 * What the Docker image's build stage runs (`npm run build`) and what its runtime stage copies
 * and starts, checked here because no Docker engine runs in CI: the build succeeds from this
 * checkout, every path the image copies from it exists, and the compiled server serves.
 */
describe('the build the container image is made of', () => {
  let server: ServerProcess | undefined

  beforeAll(async () => {
    await run('npm', ['run', 'build'], { maxBuffer: 16 * 1024 * 1024 })
  }, 180_000)
  afterAll(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGTERM')
      await server.exit
    }
  })

  it('leaves every path the Dockerfile copies from the build stage', () => {
    const copied = [
      ...readFileSync('Dockerfile', 'utf8').matchAll(/^COPY --from=build \/app\/(\S+)/gm),
    ].map((match) => match[1] as string)
    expect(copied).toEqual(['dist', 'web-demo/dist'])
    for (const path of copied) expect(existsSync(path), path).toBe(true)
    expect(existsSync('web-demo/dist/index.html')).toBe(true)
  })

  it('starts the compiled server (node dist/server.js, the image command) and answers /healthz', async () => {
    const port = await freePort()
    server = startServerProcess(offlineServerEnv(port), { compiled: true })
    const running = server
    await until(
      async () =>
        (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200,
      `/healthz from dist/server.js (output: ${running.output().slice(0, 500)})`,
      20_000,
    )
    running.child.kill('SIGTERM')
    const [code] = await running.exit
    expect(code).toBe(0)
  })
})
