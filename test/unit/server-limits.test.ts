import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/config/config-error.js'
import { parseServerLimits } from '../../src/config/server-limits.js'
import { loadServerSettings } from '../../src/config/server-settings.js'
import { readOpenFileLimit } from '../../src/lib/open-file-limit.js'

function problems(env: Record<string, string>, openFileLimit?: number): readonly string[] {
  try {
    loadServerSettings(env, { openFileLimit })
  } catch (error) {
    if (error instanceof ConfigError) return error.issues
    throw error
  }
  return []
}

describe('connection limits of the standalone server', () => {
  it('defaults to a 10 s header deadline, 30 s request deadline, 5 s keep-alive, 10000 connections, 500 per address', () => {
    expect(loadServerSettings({}, { openFileLimit: 1_048_576 }).limits).toEqual({
      headersTimeoutSeconds: 10,
      requestTimeoutSeconds: 30,
      keepAliveTimeoutSeconds: 5,
      maxConnections: 10_000,
      maxConnectionsPerAddress: 500,
    })
  })

  it('lowers the default cap to half the open-file limit, and the per-address default with it', () => {
    expect(loadServerSettings({}, { openFileLimit: 20_000 }).limits.maxConnections).toBe(10_000)
    expect(loadServerSettings({}, { openFileLimit: 1024 }).limits).toMatchObject({
      maxConnections: 512,
      maxConnectionsPerAddress: 500,
    })
    expect(loadServerSettings({}, { openFileLimit: 256 }).limits).toMatchObject({
      maxConnections: 128,
      maxConnectionsPerAddress: 128,
    })
  })

  it('keeps the default where the open-file limit is not known', () => {
    expect(loadServerSettings({}).limits.maxConnections).toBe(10_000)
  })

  it('stops with one line naming MAX_CONNECTIONS when it does not fit in half the open-file limit', () => {
    expect(problems({ MAX_CONNECTIONS: '15000' }, 20_000)).toEqual([
      "MAX_CONNECTIONS: 15000 does not fit the process's open-file limit of 20000 (ulimit -n): expected at most 10000, half of it (the other half is for upstream, Redis and provider sockets); lower it or raise the limit",
    ])
    expect(problems({ MAX_CONNECTIONS: '10000' }, 20_000)).toEqual([])
  })

  it.each([
    [
      'HEADERS_TIMEOUT_SECONDS',
      'soon',
      'HEADERS_TIMEOUT_SECONDS: expected a whole number of seconds',
    ],
    ['HEADERS_TIMEOUT_SECONDS', '0', 'HEADERS_TIMEOUT_SECONDS: '],
    ['KEEP_ALIVE_TIMEOUT_SECONDS', '0', 'KEEP_ALIVE_TIMEOUT_SECONDS: '],
    ['MAX_CONNECTIONS', '1.5', 'MAX_CONNECTIONS: expected a whole number of connections'],
    ['MAX_CONNECTIONS_PER_ADDRESS', '0', 'MAX_CONNECTIONS_PER_ADDRESS: '],
  ])('refuses %s=%s, naming the variable', (name, value, line) => {
    const found = problems({ [name]: value })
    expect(found).toHaveLength(1)
    expect(found[0]?.startsWith(line)).toBe(true)
  })

  it('refuses a request deadline shorter than the header deadline', () => {
    expect(problems({ HEADERS_TIMEOUT_SECONDS: '20', REQUEST_TIMEOUT_SECONDS: '10' })).toEqual([
      'REQUEST_TIMEOUT_SECONDS: expected at least the headers timeout (20): the request deadline includes the headers',
    ])
  })

  it('refuses a per-address cap above the total cap', () => {
    expect(problems({ MAX_CONNECTIONS: '100', MAX_CONNECTIONS_PER_ADDRESS: '200' })).toEqual([
      'MAX_CONNECTIONS_PER_ADDRESS: expected at most MAX_CONNECTIONS (100)',
    ])
  })

  it('reports the limits and the other server settings together', () => {
    expect(problems({ PORT: 'x', MAX_CONNECTIONS: 'many' })).toHaveLength(2)
  })

  it('names camelCase options for library callers', () => {
    expect(() => parseServerLimits({ maxConnections: 0 }, { openFileLimit: undefined })).toThrow(
      /maxConnections: /,
    )
  })
})

describe('readOpenFileLimit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'limits-'))
  const limits = (line: string) => {
    const file = join(dir, `limits-${Math.random()}`)
    writeFileSync(
      file,
      `Limit                     Soft Limit           Hard Limit           Units     \nMax processes             95634                95634                processes \n${line}\nMax locked memory         8388608              8388608              bytes     \n`,
    )
    return file
  }

  it('reads the soft limit', () => {
    expect(
      readOpenFileLimit(
        limits('Max open files            1024                 524288               files     '),
      ),
    ).toBe(1024)
  })

  it('is undefined when unlimited or when the file does not exist', () => {
    expect(
      readOpenFileLimit(
        limits('Max open files            unlimited            unlimited            files     '),
      ),
    ).toBeUndefined()
    expect(readOpenFileLimit(join(dir, 'absent'))).toBeUndefined()
  })

  it('reads this process’s limit on Linux', () => {
    if (process.platform !== 'linux') return
    expect(readOpenFileLimit()).toBeGreaterThan(0)
  })
})
