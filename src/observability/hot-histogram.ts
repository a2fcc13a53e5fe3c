import type { Registry } from 'prom-client'

interface Series {
  labels: Record<string, string>
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  counts: Float64Array
  sum: number
  count: number
}

/** One line of the exposition, in the shape prom-client's Registry formats. */
interface Value {
  labels: Record<string, string | number>
  sharedLabels: Record<string, string>
  value: number
  metricName: string
  /** prom-client's shape: null on buckets (no exemplars kept here). */
  exemplar?: null
}

/** What an observation is recorded into: one label set's buckets, found once. */
export interface HotSeries {
  observe(value: number): void
}

/**
 * A Prometheus histogram for a path that records on every request (the /api proxy).
 * prom-client's Histogram validates and hashes the labels on each observation, which cost
 * more than the rest of a proxied request's bookkeeping; here a label set is looked up once
 * (`series`) and an observation is a few array increments. Registered in a prom-client
 * Registry, it is exposed exactly as a prom-client Histogram with the same observations.
 */
export class HotHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly name: string
  readonly help: string
  readonly #labelNames: readonly string[]
  readonly #bounds: readonly number[]
  readonly #series = new Map<string, Series>()

  constructor(options: {
    name: string
    help: string
    labelNames: readonly string[]
    buckets: readonly number[]
    registers: readonly Registry[]
  }) {
    this.name = options.name
    this.help = options.help
    this.#labelNames = options.labelNames
    this.#bounds = [...options.buckets].sort((a, b) => a - b)
    // A Registry takes any object with prom-client's metric shape (name, help, get…).
    for (const registry of options.registers) registry.registerMetric(this as never)
  }

  /** The series of these label values (in `labelNames` order), to observe into. */
  series(...values: string[]): HotSeries {
    const key = values.join('\u0000')
    let series = this.#series.get(key)
    if (!series) {
      const labels = Object.fromEntries(this.#labelNames.map((name, i) => [name, values[i] ?? '']))
      series = { labels, counts: new Float64Array(this.#bounds.length + 1), sum: 0, count: 0 }
      this.#series.set(key, series)
    }
    const bounds = this.#bounds
    const found = series
    return {
      observe(value: number) {
        let i = 0
        while (i < bounds.length && value > (bounds[i] as number)) i++
        found.counts[i] = (found.counts[i] ?? 0) + 1
        found.sum += value
        found.count += 1
      },
    }
  }

  async getForPromString() {
    const bucketName = `${this.name}_bucket`
    const values: Value[] = []
    for (const { labels, counts, sum, count } of this.#series.values()) {
      let cumulative = 0
      this.#bounds.forEach((le, i) => {
        cumulative += counts[i] ?? 0
        values.push({
          labels: { le },
          sharedLabels: labels,
          value: cumulative,
          metricName: bucketName,
          exemplar: null,
        })
      })
      values.push(
        {
          labels: { le: '+Inf' },
          sharedLabels: labels,
          value: count,
          metricName: bucketName,
          exemplar: null,
        },
        { labels: {}, sharedLabels: labels, value: sum, metricName: `${this.name}_sum` },
        { labels: {}, sharedLabels: labels, value: count, metricName: `${this.name}_count` },
      )
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    }
  }

  async get() {
    const data = await this.getForPromString()
    return {
      ...data,
      values: data.values.map(({ labels, sharedLabels, ...rest }) => ({
        ...rest,
        labels: { ...labels, ...sharedLabels },
      })),
    }
  }

  reset(): void {
    this.#series.clear()
  }
}
