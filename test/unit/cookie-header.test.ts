import { describe, expect, it } from 'vitest'
import { cookieValue } from '../../src/lib/cookie-header.js'

const NAME = '__Host-bff'

describe('cookieValue', () => {
  it.each([
    ['the only cookie', `${NAME}=abc`, 'abc'],
    ['among others, blanks around', `a=1;  ${NAME} = abc ;b=2`, 'abc'],
    ['after a tab', `a=1;\t${NAME}=abc`, 'abc'],
    ['the first of two', `${NAME}=first; ${NAME}=second`, 'first'],
    ['empty', `${NAME}=; b=2`, ''],
    ['quotes kept', `${NAME}="abc"`, '"abc"'],
    ['not percent-decoded', `${NAME}=a%7E2`, 'a%7E2'],
    ['with = inside the value', `${NAME}=a=b`, 'a=b'],
  ])('reads it %s', (_, header, expected) => {
    expect(cookieValue(header, NAME)).toBe(expected)
  })

  it.each([
    ['no header', undefined],
    ['empty header', ''],
    ['a longer name ending in it', `x${NAME}=evil`],
    ['a longer name starting with it', `${NAME}x=evil`],
    ['its name inside another cookie value', `a=${NAME}=evil`],
    ['its name after a blank inside a value', `a=1 ${NAME}=evil`],
    ['its name without =', `${NAME}; b=2`],
  ])('finds nothing in %s', (_, header) => {
    expect(cookieValue(header, NAME)).toBeUndefined()
  })

  it('skips a look-alike and still finds the real one after it', () => {
    expect(cookieValue(`a=${NAME}=evil; ${NAME}=real`, NAME)).toBe('real')
  })
})
