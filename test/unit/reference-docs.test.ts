import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { errorCodes } from '../../src/errors/codes.js'

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')
const operations = read('docs/operations.md')
const endpoints = read('docs/endpoints.md')
const metricNames = [...new Set(read('src/observability/metrics.ts').match(/\bbff_[a-z_]+/g))]

/** Metric names in the first cell of table rows: `| \`bff_…\` | …`. */
const metricRows = (markdown: string) =>
  markdown
    .split('\n')
    .map((line) => /^\| `(bff_[a-z_]+)` +\|/.exec(line)?.[1])
    .filter((name) => name !== undefined)

describe('reference tables', () => {
  it('docs/operations.md lists every metric the broker exports, and no other', () => {
    expect(metricNames.length).toBeGreaterThan(10)
    expect(metricRows(operations).sort()).toEqual([...metricNames].sort())
  })

  it('docs/endpoints.md lists every error code with its status, and no other', () => {
    const rows = endpoints
      .split('\n')
      .map((line) => /^\| `([a-z_]+)` +\| (\d{3}) +\|/.exec(line))
      .filter((match) => match !== null)
      .map((match) => [match[1], Number(match[2])])
    const codes = Object.entries(errorCodes).map(([code, { status }]) => [code, status])
    expect(rows.sort()).toEqual(codes.sort())
  })
})
