import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { BffMetrics } from '../../src/observability/metrics.js'

const dashboard = JSON.parse(
  readFileSync(
    new URL('../../deploy/grafana/dashboards/session-broker.json', import.meta.url),
    'utf8',
  ),
) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> }

/** Metric names a PromQL expression uses (histogram series map back to their histogram). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b(bff_[a-z_]+)/g)].map((m) =>
    (m[1] as string).replace(/_(bucket|count|sum)$/, ''),
  )
}

describe('the Grafana dashboard', () => {
  const exported = new Set(new BffMetrics().registry.getMetricsAsArray().map((m) => m.name))

  it.each(dashboard.panels.map((p) => [p.title, p] as const))(
    'panel "%s" only queries metrics the broker exports',
    (_title, panel) => {
      const names = panel.targets.flatMap((t) => metricNames(t.expr))
      expect(names.length).toBeGreaterThan(0)
      for (const name of names) expect(exported, name).toContain(name)
    },
  )

  it('covers the issue: auth success, failure reasons, refresh outcomes, p99 proxy latency, Redis errors', () => {
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n')
    for (const needle of [
      'bff_logins_completed_total',
      'bff_login_failures_total',
      'bff_refresh_total',
      'histogram_quantile(0.99',
      'bff_store_errors_total',
    ]) {
      expect(exprs).toContain(needle)
    }
  })
})
