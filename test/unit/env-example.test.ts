import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { envNames } from '../../src/config/load-env.js'
import { serverEnvNames } from '../../src/config/server-settings.js'

const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8')
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
const settings = [...Object.values(envNames), ...serverEnvNames]

describe('documentation of settings', () => {
  it.each(settings)('.env.example documents %s with a comment', (name) => {
    const lines = example.split('\n')
    const at = lines.findIndex((line) => new RegExp(`^#? ?${name}=`).test(line))
    expect(at, `${name} missing from .env.example`).toBeGreaterThan(0)
    expect(lines[at - 1]?.startsWith('#'), `${name} has no comment above it`).toBe(true)
  })

  it.each(settings)('the README configuration table lists %s', (name) => {
    expect(readme).toContain(`| \`${name}\``)
  })
})
