import dns from 'node:dns'

/**
 * The e2e sites live on distinct host names under the reserved `.test` TLD (RFC 6761 §6.2),
 * all on loopback: `app.test` (broker), `idp.test` (provider), `api.test` (demo API) and
 * `evil.test` (attacker). Chromium maps them with `--host-resolver-rules`; this makes Node
 * agree, so the broker's discovery and token calls and the demo API's JWKS fetch reach the
 * same issuer URL the browser uses. Patched once, for this process only (the Playwright
 * worker that runs the stack). Global fetch (undici), node:http and node:net all resolve
 * through `dns.lookup`.
 */
export const TEST_HOSTS = {
  app: 'app.test',
  idp: 'idp.test',
  api: 'api.test',
  evil: 'evil.test',
} as const

let patched = false

export function resolveTestHostsToLoopback(): void {
  if (patched) return
  patched = true
  const original = dns.lookup
  const lookup = (hostname: string, options: unknown, callback?: unknown) => {
    const target = hostname.endsWith('.test') ? '127.0.0.1' : hostname
    if (typeof options === 'function') return original(target, {}, options as never)
    return original(target, options as never, callback as never)
  }
  dns.lookup = lookup as typeof dns.lookup
}
