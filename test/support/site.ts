/**
 * Browser notions of "secure context" and "site", simplified for loopback tests:
 * `localhost`, `*.localhost` and loopback IPs count as secure even over http, and a
 * site is the scheme plus the last two labels of a name (or the whole IP address).
 */
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1'])

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK.has(hostname) || hostname.endsWith('.localhost')
}

export function isSecureContext(url: URL): boolean {
  return url.protocol === 'https:' || isLoopbackHost(url.hostname)
}

function isIpAddress(hostname: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) || hostname.startsWith('[')
}

export function siteOf(url: URL): string {
  const host = url.hostname
  const registrable = isIpAddress(host) ? host : host.split('.').slice(-2).join('.')
  return `${url.protocol}//${registrable}`
}

export function sameSite(a: URL, b: URL): boolean {
  return siteOf(a) === siteOf(b)
}
