import { Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { HotHistogram } from '../../src/observability/hot-histogram.js'

const BUCKETS = [0.001, 0.01, 0.1, 1]
const OBSERVED: Array<[string, number]> = [
  ['/api/a', 0.0005],
  ['/api/a', 0.001], // on a bound: counted in that bucket (le is "less or equal")
  ['/api/a', 0.05],
  ['/api/b', 3],
  ['/api/a', 0.7],
  ['/api/b', 0.002],
]

function both() {
  const reference = new Registry()
  const hot = new Registry()
  const options = { name: 'x_seconds', help: 'x', labelNames: ['route'], buckets: BUCKETS }
  return {
    reference,
    hot,
    prom: new Histogram({ ...options, registers: [reference] }),
    fast: new HotHistogram({ ...options, registers: [hot] }),
  }
}

describe('HotHistogram', () => {
  it('is exposed exactly as prom-client exposes a Histogram with the same observations', async () => {
    const { reference, hot, prom, fast } = both()
    for (const [route, value] of OBSERVED) {
      prom.labels(route).observe(value)
      fast.series(route).observe(value)
    }
    const text = await hot.metrics()
    expect(text).toBe(await reference.metrics())
    expect(text).toContain('x_seconds_bucket{le="0.001",route="/api/a"} 2')
    expect(text).toContain('x_seconds_count{route="/api/b"} 2')
  })

  it('gives the same JSON as prom-client, and forgets everything on reset', async () => {
    const { reference, hot, prom, fast } = both()
    const series = fast.series('/api/a')
    for (const [, value] of OBSERVED) {
      prom.labels('/api/a').observe(value)
      series.observe(value)
    }
    expect(await hot.getMetricsAsJSON()).toEqual(await reference.getMetricsAsJSON())
    fast.reset()
    prom.reset()
    expect(await hot.metrics()).toBe(await reference.metrics())
  })
})
