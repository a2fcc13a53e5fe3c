import { describe, expect, it } from 'vitest'
import type { BffError } from '../../src/errors/bff-error.js'
import { checkEachSegment, checkRemainder } from '../../src/proxy/path-segments.js'

/** Characters the shortcut covers, plus the ones it must leave to the full rule. */
const ALPHABET = [..."aZ09-._~!$&'()*+,=:@/", ';', '%2e', '%2f', '%41', '．', ' ']

function verdict(check: (remainder: string) => void, remainder: string): string {
  try {
    check(remainder)
    return 'accepted'
  } catch (error) {
    return (error as BffError).detail ?? String(error)
  }
}

describe('checkRemainder', () => {
  it('decides every path exactly as the segment-by-segment rule does (20 000 random paths)', () => {
    let seed = 7
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed % n
    }
    let accepted = 0
    for (let i = 0; i < 20_000; i++) {
      let remainder = '/'
      const length = 1 + random(12)
      for (let j = 0; j < length; j++) remainder += ALPHABET[random(ALPHABET.length)]
      const full = verdict(checkEachSegment, remainder)
      // checkRemainder refuses `//` and control characters before either reading.
      if (remainder.includes('//')) continue
      expect(verdict(checkRemainder, remainder), remainder).toBe(full)
      if (full === 'accepted') accepted++
    }
    // The corpus exercises both answers.
    expect(accepted).toBeGreaterThan(1000)
    expect(accepted).toBeLessThan(19_000)
  })

  it.each(['/.', '/..', '/a/../b', '/...', '/a/.'])('refuses the dot segment in %s', (path) => {
    expect(verdict(checkRemainder, path)).toBe('path escape attempt: dot segment')
  })
})
