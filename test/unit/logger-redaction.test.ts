import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../src/observability/logger.js'

describe('the logger’s redaction list', () => {
  it.each([
    'access_token',
    'refreshToken',
    'code_verifier',
    'clientSecret',
    'secret',
    'cookieSecrets',
    'tokenEncryptionKeys',
    'logout_token',
    'id_token_hint',
    'authorization',
    'cookie',
  ])('redacts %s one level down', (field) => {
    const lines: string[] = []
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk))
        done()
      },
    })
    createLogger('info', sink).info({ event: 'test', data: { [field]: 'very-secret-value' } })
    expect(lines.join('')).not.toContain('very-secret-value')
    expect(lines.join('')).toContain('[redacted]')
  })
})
