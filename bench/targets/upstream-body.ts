/** The upstream's fixed answer; the orchestrator checks every target returns exactly this. */
export const UPSTREAM_BODY = JSON.stringify({
  ok: true,
  service: 'bench-upstream',
  items: [1, 2, 3],
})
