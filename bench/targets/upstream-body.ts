/** The upstream's fixed answer; the orchestrator checks every target returns exactly this. */
export const UPSTREAM_BODY = JSON.stringify({
  ok: true,
  service: 'bench-upstream',
  items: [1, 2, 3],
})

/** The upstream's report of the longest Authorization header it answered (not under /api). */
export const BEARER_LENGTH_PATH = '/__bench/bearer-length'
