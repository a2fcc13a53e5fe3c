const SPACE = 0x20
const TAB = 0x09
const SEMICOLON = 0x3b
const EQUALS = 0x3d

const isBlank = (code: number) => code === SPACE || code === TAB

/**
 * The value of the first cookie called `name` in a Cookie request header (RFC 6265 §5.4:
 * `name=value` pairs separated by `;` and optional blanks), exactly as sent: not
 * percent-decoded, quotes kept. A caller that accepts only one spelling of a value (a
 * session seal) checks it itself; decoding would only give a client more spellings.
 */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined
  for (let found = header.indexOf(name); found !== -1; found = header.indexOf(name, found + 1)) {
    let before = found - 1
    while (before >= 0 && isBlank(header.charCodeAt(before))) before--
    if (before !== -1 && header.charCodeAt(before) !== SEMICOLON) continue
    let equals = found + name.length
    while (equals < header.length && isBlank(header.charCodeAt(equals))) equals++
    if (header.charCodeAt(equals) !== EQUALS) continue
    let start = equals + 1
    let end = header.indexOf(';', start)
    if (end === -1) end = header.length
    while (start < end && isBlank(header.charCodeAt(start))) start++
    while (end > start && isBlank(header.charCodeAt(end - 1))) end--
    return header.slice(start, end)
  }
  return undefined
}
