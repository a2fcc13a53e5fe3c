import * as oidc from 'openid-client'
import { describe, expect, it } from 'vitest'
import { classifyExchangeFailure, classifyRefreshFailure } from '../../src/oidc/refresh-policy.js'

function bodyError(status: number, error: string) {
  const response = new Response(JSON.stringify({ error }), { status })
  return new oidc.ResponseBodyError('server responded with an error in the response body', {
    cause: { error },
    response,
  } as unknown as ConstructorParameters<typeof oidc.ResponseBodyError>[1])
}

describe('classifyRefreshFailure', () => {
  it.each(['invalid_grant', 'invalid_scope', 'invalid_target'])('treats %s as fatal', (code) => {
    expect(classifyRefreshFailure(bodyError(400, code))).toBe('fatal')
  })

  it.each([
    [401, 'invalid_client'],
    [400, 'unauthorized_client'],
    [403, 'unauthorized_client'],
  ])('treats %s %s as the client refused: the user grant is not at fault', (status, code) => {
    expect(classifyRefreshFailure(bodyError(status, code))).toBe('client_rejected')
  })

  it('treats temporarily_unavailable as transient', () => {
    expect(classifyRefreshFailure(bodyError(503, 'temporarily_unavailable'))).toBe('transient')
  })

  it('treats a network failure as transient', () => {
    expect(
      classifyRefreshFailure(new TypeError('fetch failed', { cause: new Error('ECONNREFUSED') })),
    ).toBe('transient')
  })

  it('treats a timeout as transient', () => {
    expect(classifyRefreshFailure(new DOMException('timed out', 'TimeoutError'))).toBe('transient')
  })

  it.each([
    'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
    'OAUTH_JWT_TIMESTAMP_CHECK_FAILED',
    'OAUTH_INVALID_RESPONSE',
    'OAUTH_KEY_SELECTION_FAILED',
  ])('treats a refused ID token (%s) as fatal: the refresh token is spent already', (code) => {
    expect(classifyRefreshFailure(Object.assign(new oidc.ClientError('refused'), { code }))).toBe(
      'fatal',
    )
  })

  it('treats a key set the provider cannot serve (5xx) as transient', () => {
    const error = Object.assign(
      new oidc.ClientError('not a JWKS', { cause: new Response('down', { status: 503 }) }),
      { code: 'OAUTH_INVALID_RESPONSE' },
    )
    expect(classifyRefreshFailure(error)).toBe('transient')
  })
})

describe('classifyExchangeFailure', () => {
  it.each([
    [400, 'invalid_grant', 'subject_refused'],
    [400, 'invalid_target', 'forbidden'],
    [403, 'access_denied', 'forbidden'],
    [401, 'invalid_client', 'client_rejected'],
    [400, 'unauthorized_client', 'client_rejected'],
    [400, 'invalid_request', 'subject_refused'],
    [400, 'unsupported_grant_type', 'refused'],
    [400, 'invalid_scope', 'refused'],
    [400, 'unsupported_token_type', 'refused'],
    [503, 'temporarily_unavailable', 'transient'],
    [500, 'server_error', 'transient'],
    [429, 'slow_down', 'transient'],
  ])('treats %s %s as %s: no refusal ends the session by itself', (status, code, kind) => {
    expect(classifyExchangeFailure(bodyError(status, code))).toBe(kind)
  })

  it('treats a network failure and a timeout as transient', () => {
    expect(
      classifyExchangeFailure(new TypeError('fetch failed', { cause: new Error('ECONNREFUSED') })),
    ).toBe('transient')
    expect(classifyExchangeFailure(new DOMException('timed out', 'TimeoutError'))).toBe('transient')
  })

  it('treats an answer that is no usable token response as refused (nothing was spent)', () => {
    const invalid = Object.assign(new oidc.ClientError('refused'), {
      code: 'OAUTH_INVALID_RESPONSE',
    })
    expect(classifyExchangeFailure(invalid)).toBe('refused')
  })
})
