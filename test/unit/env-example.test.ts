import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { envNames } from '../../src/config/load-env.js'
import { serverEnvNames } from '../../src/config/server-settings.js'

const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8')
const reference = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8')
const settings = [...Object.values(envNames), ...serverEnvNames]

/** The option a setting feeds in `createBff(options)`, by variable name. */
const optionOf = new Map(Object.entries(envNames).map(([option, name]) => [name, option]))

/** Table rows of docs/configuration.md that document a setting: `| \`NAME\` | …`. */
const rows = reference
  .split('\n')
  .map((line) => /^\| `([A-Z][A-Z0-9_]*)` +\|(.*)$/.exec(line))
  .filter((match) => match !== null)
  .map((match) => ({
    name: match[1] as string,
    cells: (match[2] as string).split('|').map((cell) => cell.trim()),
  }))

describe('documentation of settings', () => {
  it.each(settings)('.env.example documents %s with a comment', (name) => {
    const lines = example.split('\n')
    const at = lines.findIndex((line) => new RegExp(`^#? ?${name}=`).test(line))
    expect(at, `${name} missing from .env.example`).toBeGreaterThan(0)
    expect(lines[at - 1]?.startsWith('#'), `${name} has no comment above it`).toBe(true)
  })

  it('.env.example sets no variable the broker does not read', () => {
    const names = example
      .split('\n')
      .map((line) => /^#? ?([A-Z][A-Z0-9_]*)=/.exec(line)?.[1])
      .filter((name) => name !== undefined)
    expect(names.filter((name) => !settings.includes(name))).toEqual([])
  })

  it.each(settings)('docs/configuration.md lists %s in one table row', (name) => {
    expect(rows.filter((row) => row.name === name)).toHaveLength(1)
  })

  it('docs/configuration.md lists no setting the broker does not read', () => {
    const stale = rows.map((row) => row.name).filter((name) => !settings.includes(name))
    expect(stale).toEqual([])
  })

  it('docs/configuration.md names the createBff option of each setting', () => {
    const wrong = rows
      .filter((row) => optionOf.has(row.name))
      .filter((row) => row.cells[0] !== `\`${optionOf.get(row.name)}\``)
      .map((row) => `${row.name}: ${row.cells[0]}`)
    expect(wrong).toEqual([])
  })
})
