const MAX_LENGTH = 2048

/**
 * Accepts only a same-origin absolute path. Anything a browser could read as another
 * origin (`//host`, `/\host`, `/%2F%2Fhost` after its own decoding, `javascript:`, a scheme)
 * or that carries control characters is refused rather than repaired.
 * Returns the path to redirect to, or null when the value is not acceptable.
 */
export function validateReturnTo(raw: string | undefined, publicOrigin: string): string | null {
  if (raw === undefined || raw === '') return '/'
  if (raw.length > MAX_LENGTH) return null
  // Control characters (incl. tab/CR/LF, which browsers strip from URLs) and backslashes
  // (which browsers treat as slashes) are refused in the raw and the once-decoded form.
  let decoded: string
  try {
    decoded = decodeURIComponent(raw)
  } catch {
    return null
  }
  for (const form of [raw, decoded]) {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
    if (/[\u0000-\u001f\u007f-\u009f\\]/.test(form)) return null
    if (!form.startsWith('/') || form.startsWith('//')) return null
  }
  let url: URL
  try {
    url = new URL(raw, publicOrigin)
  } catch {
    return null
  }
  if (url.origin !== publicOrigin) return null
  const path = `${url.pathname}${url.search}${url.hash}`
  // After URL normalisation the result must still be a plain path of this origin.
  if (!path.startsWith('/') || path.startsWith('//')) return null
  return path
}
