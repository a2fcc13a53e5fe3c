/** A 256-bit key written in base64 or base64url; null when it is not exactly 32 bytes. */
export function decodeKey(value: string): Buffer | null {
  const bytes = Buffer.from(value, /[-_]/.test(value) ? 'base64url' : 'base64')
  return bytes.length === 32 ? bytes : null
}
