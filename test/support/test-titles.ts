/**
 * The titles of the `describe`, `it` and `test` calls in a Vitest or Playwright source file, as
 * written (an `it.each` title keeps its `%s`). A small scanner, not a parser: it finds
 * `it(`, `it.each<Row>([...])(`, `test.describe(` and the like, skips type arguments and the
 * argument lists that are not the title (the `each` table, `skipIf(...)`), and reads the first
 * string literal of the call.
 */
export function testTitles(source: string): string[] {
  const titles: string[] = []
  const head = /\b(?:it|test|describe)(?=\s*[.(])/g
  for (let match = head.exec(source); match; match = head.exec(source)) {
    const title = titleAfter(source, match.index + match[0].length)
    if (title !== undefined) titles.push(title)
  }
  return titles
}

function titleAfter(source: string, start: number): string | undefined {
  let at = skipSpace(source, start)
  for (let calls = 0; calls < 4; calls += 1) {
    while (source[at] === '.') {
      const name = /^\.\s*[A-Za-z]+/.exec(source.slice(at))
      if (!name) return undefined
      at = skipSpace(source, at + name[0].length)
    }
    if (source[at] === '<') {
      const end = closingAngle(source, at)
      if (end === undefined) return undefined
      at = skipSpace(source, end + 1)
    }
    if (source[at] !== '(') return undefined
    const inside = skipSpace(source, at + 1)
    const quote = source[inside]
    if (quote === "'" || quote === '"' || quote === '`') return readString(source, inside)
    const end = closingParen(source, at)
    if (end === undefined) return undefined
    at = skipSpace(source, end + 1)
  }
  return undefined
}

function skipSpace(source: string, at: number): number {
  while (at < source.length && /\s/.test(source[at] as string)) at += 1
  return at
}

/** The literal's text, with `\x` escapes reduced to `x`. */
function readString(source: string, at: number): string | undefined {
  const quote = source[at]
  let text = ''
  for (let i = at + 1; i < source.length; i += 1) {
    const char = source[i] as string
    if (char === '\\') {
      text += source[i + 1] ?? ''
      i += 1
    } else if (char === quote) {
      return text
    } else {
      text += char
    }
  }
  return undefined
}

/** Index of the `)` that closes the `(` at `open`, skipping string literals and comments. */
function closingParen(source: string, open: number): number | undefined {
  let depth = 0
  for (let i = open; i < source.length; i += 1) {
    const char = source[i] as string
    if (char === "'" || char === '"' || char === '`') {
      i = endOfString(source, i)
    } else if (char === '/' && source[i + 1] === '/') {
      i = source.indexOf('\n', i)
      if (i === -1) return undefined
    } else if (char === '/' && source[i + 1] === '*') {
      i = source.indexOf('*/', i) + 1
      if (i === 0) return undefined
    } else if (char === '(' || char === '[' || char === '{') {
      depth += 1
    } else if (char === ')' || char === ']' || char === '}') {
      depth -= 1
      if (depth === 0) return i
    }
  }
  return undefined
}

/** Index of the `>` that closes the type arguments at `open` (an arrow's `=>` does not). */
function closingAngle(source: string, open: number): number | undefined {
  let depth = 0
  for (let i = open; i < source.length; i += 1) {
    if (source[i] === '<') depth += 1
    else if (source[i] === '>' && source[i - 1] !== '=') {
      depth -= 1
      if (depth === 0) return i
    }
  }
  return undefined
}

function endOfString(source: string, at: number): number {
  const quote = source[at]
  for (let i = at + 1; i < source.length; i += 1) {
    if (source[i] === '\\') i += 1
    else if (source[i] === quote) return i
  }
  return source.length
}
