import type { Logger } from 'pino'
import type { BffConfig } from '../config/schema.js'
import type { Clock } from '../lib/clock.js'
import type { BffMetrics } from '../observability/metrics.js'
import { CircuitBreaker, type CircuitState } from './circuit-breaker.js'

/** A probe that has said nothing after this long frees its slot (its caller gave up). */
const PROBE_MARGIN_MS = 2000

export interface Circuits {
  store: CircuitBreaker
  provider: CircuitBreaker
  /** The circuit of one /api route's upstream (by route prefix); undefined when switched off. */
  upstream(prefix: string): CircuitBreaker | undefined
}

/**
 * The broker's circuit breakers, from its settings: the session store and the provider's
 * token endpoint open on their first failure (a timed-out or dropped store command, a token
 * call that got no answer or a 5xx), each upstream after UPSTREAM_CIRCUIT_FAILURES consecutive
 * connection failures or timeouts. Each change of state is one log line and is counted.
 */
export function createCircuits(deps: {
  config: BffConfig
  clock: Clock
  logger: Logger
  metrics: BffMetrics
}): Circuits {
  const { config, clock, logger, metrics } = deps
  const onTransition = (name: string, from: CircuitState, to: CircuitState) => {
    metrics.circuitTransition(name, to)
    const line = { event: 'circuit.transition', circuit: name, from, to }
    if (to === 'open')
      logger.warn(line, `${name} circuit open: calls refused until a probe succeeds`)
    else logger.info(line, `${name} circuit ${to === 'closed' ? 'closed' : 'probing'}`)
  }
  const circuit = (name: string, failuresToOpen: number, probeAfterMs: number, callMs: number) =>
    new CircuitBreaker({
      name,
      failuresToOpen,
      probeAfterMs,
      probeTimeoutMs: callMs + PROBE_MARGIN_MS,
      clock,
      onTransition,
    })
  const upstreams = new Map<string, CircuitBreaker>()
  if (config.upstreamCircuitFailures > 0) {
    for (const route of config.apiRoutes) {
      const timeoutMs = (route.timeoutSeconds ?? config.upstreamTimeoutSeconds) * 1000
      upstreams.set(
        route.prefix,
        circuit(
          `upstream:${route.prefix}`,
          config.upstreamCircuitFailures,
          config.upstreamCircuitProbeMs,
          timeoutMs,
        ),
      )
    }
  }
  return {
    store: circuit('store', 1, config.storeCircuitProbeMs, config.redisCommandTimeoutMs),
    provider: circuit(
      'provider',
      1,
      config.providerCircuitProbeMs,
      config.providerTimeoutSeconds * 1000,
    ),
    upstream: (prefix) => upstreams.get(prefix),
  }
}
