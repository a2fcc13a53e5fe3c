import { BffError } from '../errors/bff-error.js'

/** Characters never allowed in a forwarded path, raw or once decoded. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const FORBIDDEN = /[\u0000-\u001f\u007f\\]/
/** Encoded dot, slash or backslash surviving one decoding: double encoding aimed at the upstream. */
const ENCODED_SEPARATOR = /%(2e|2f|5c)/i
// biome-ignore lint/suspicious/noControlCharactersInRegex: all of ASCII is the point
const ASCII = /^[\u0000-\u007f]*$/
/**
 * Segments of unreserved and sub-delimiter characters only, without `;` or `%` (so nothing to
 * decode, strip or fold): each reads as itself everywhere, unless it is dots alone.
 */
const PLAIN_SEGMENTS = /^(?:\/[A-Za-z0-9\-._~!$&'()*+,=:@]*)+$/
const DOTS_SEGMENT = /\/\.+(?:\/|$)/
/** A segment of dots alone (`.`, `..`, and `...` or `.. `, which some servers trim to `..`). */
const DOTS_ONLY = /^\.+$/

/**
 * Why one decoded segment could name somewhere else than itself at an upstream, or undefined.
 * Upstreams differ in how they read a segment, so each reading is checked:
 * - as decoded: a separator inside it, or a dot segment (RFC 3986 §5.2.4);
 * - with its `;params` removed: Tomcat, Jetty and Spring strip them before resolving dot
 *   segments, so `..;x` is `..` there (RFC 3986 §3.3 leaves `;` to the scheme);
 * - NFKC-folded: frameworks that normalise Unicode turn `．．` (U+FF0E), `‥` (U+2025) and `／`
 *   (U+FF0F) into `..` and `/`.
 */
function segmentEscape(decoded: string): string | undefined {
  // NFKC leaves ASCII as it is: one reading is enough then (the common case, and cheaper).
  const readings = ASCII.test(decoded) ? [decoded] : [decoded, decoded.normalize('NFKC')]
  for (const reading of readings) {
    if (/[/\\]/.test(reading)) return 'separator inside a segment'
    if (FORBIDDEN.test(reading)) return 'control character'
    if (ENCODED_SEPARATOR.test(reading)) return 'encoded separator after decoding'
    const beforeParams = (reading.split(';', 1)[0] as string).trim()
    if (DOTS_ONLY.test(beforeParams)) return 'dot segment'
  }
  return undefined
}

/**
 * Checks the part of the path after the mount prefix. The request URL is already
 * dot-normalised by the URL parser, so what remains are encoded escapes (`..%2f`, `%2e%2e`,
 * `%252e`), segments another parser reads as dot segments (`..;`, full-width dots), empty
 * segments (`//host`) and control characters: all refused, not repaired. Overlong or broken
 * UTF-8 does not decode and is refused too.
 */
export function checkRemainder(remainder: string): void {
  if (remainder === '' || remainder === '/') return
  if (!remainder.startsWith('/') || remainder.includes('//') || FORBIDDEN.test(remainder)) {
    throw new BffError('invalid_path', { detail: 'malformed proxied path' })
  }
  // The common case, decided at once: what checkEachSegment would accept without decoding.
  if (PLAIN_SEGMENTS.test(remainder) && !DOTS_SEGMENT.test(remainder)) return
  checkEachSegment(remainder)
}

/** The rule itself, segment by segment (exported for the test that checks the shortcut). */
export function checkEachSegment(remainder: string): void {
  for (const segment of remainder.slice(1).split('/')) {
    let decoded = segment
    try {
      if (segment.includes('%')) decoded = decodeURIComponent(segment)
    } catch {
      throw new BffError('invalid_path', { detail: 'undecodable path segment' })
    }
    const reason = segmentEscape(decoded)
    if (reason) throw new BffError('invalid_path', { detail: `path escape attempt: ${reason}` })
  }
}
