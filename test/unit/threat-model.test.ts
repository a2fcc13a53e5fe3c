import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { testTitles } from '../support/test-titles.js'

const root = new URL('../../', import.meta.url)
const doc = readFileSync(new URL('docs/threat-model.md', root), 'utf8')

/** A code span naming a test: `test/…/file.test.ts › describe › title` (names optional). */
const REFERENCE = /`((?:test|e2e)\/[^`\s]+\.(?:test|spec)\.ts)((?: › [^`]+)?)`/g

interface Reference {
  text: string
  file: string
  names: string[]
}

const references: Reference[] = [...doc.matchAll(REFERENCE)].map((match) => ({
  text: `${match[1]}${match[2]}`,
  file: match[1] as string,
  names: (match[2] ?? '')
    .split(' › ')
    .map((name) => name.trim())
    .filter(Boolean),
}))

/**
 * Whether a title in the source is the one the document names. `${…}` in a template-literal
 * title stands for any text; a name ending in `…` names the leading words of a title.
 */
function names(title: string, name: string): boolean {
  if (name.endsWith('…')) {
    const lead = name.slice(0, -1).trimEnd()
    return lead.length > 0 && title.startsWith(lead)
  }
  const pattern = title
    .split(/\$\{[^}]*\}/)
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.+?')
  return new RegExp(`^${pattern}$`).test(name)
}

/** The items of the attack lists: a `- ` line and the indented lines after it. */
function listItems(markdown: string): string[] {
  const items: string[] = []
  for (const line of markdown.split('\n')) {
    if (line.startsWith('- ')) items.push(line)
    else if (line.startsWith('  ') && items.length > 0) items[items.length - 1] += `\n${line}`
    else if (line.trim() !== '') items.push('')
  }
  return items.filter(Boolean)
}

describe('docs/threat-model.md', () => {
  it('names tests', () => {
    expect(references.length).toBeGreaterThan(100)
  })

  it('names a test in every attack it lists', () => {
    const items = listItems(doc)
    expect(items.length).toBeGreaterThan(100)
    const without = items.filter((item) => !item.match(REFERENCE))
    expect(without, 'attacks without a test').toEqual([])
  })

  it('names a test under every area', () => {
    const areas = doc.split(/^## /m).slice(1)
    const without = areas.filter((area) => !area.match(REFERENCE)).map((a) => a.split('\n')[0])
    expect(without, 'areas without a test').toEqual([])
  })

  it.each(references)('$text exists', ({ file, names: wanted }) => {
    const path = new URL(file, root)
    expect(existsSync(path), `${file} does not exist`).toBe(true)
    const titles = testTitles(readFileSync(path, 'utf8'))
    for (const name of wanted) {
      if (name === '…') continue
      expect(
        titles.some((title) => names(title, name)),
        `${file} has no describe, it or test titled "${name}"`,
      ).toBe(true)
    }
  })
})
