import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEV_TOKEN_EXCHANGE_GRANT } from '../../demo/provider/dev-token-exchange.js'
import { startTestProvider, type TestProvider } from '../support/provider.js'

const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token'
const AUDIENCE = 'http://dev-api.test'
const OTHER = 'http://other-api.test'

/*
 * The dev provider's exchange grant verifies its subject token for real. Subject tokens here
 * are client-credentials JWTs of two clients (no browser sign-in needed): a client may exchange
 * only a token issued to itself, for a user the provider knows, signed by the provider.
 */
describe('dev provider token exchange (dev only)', () => {
  let provider: TestProvider
  const secrets = { a: 'a-secret-a-secret-a-secret', b: 'b-secret-b-secret-b-secret' }

  beforeAll(async () => {
    provider = await startTestProvider({
      redirectUri: 'http://127.0.0.1:1/auth/callback',
      apiAudience: AUDIENCE,
      moreAudiences: [OTHER],
      clients: (['a', 'b'] as const).map((id) => ({
        client_id: id,
        client_secret: secrets[id],
        token_endpoint_auth_method: 'client_secret_basic' as const,
        redirect_uris: ['http://127.0.0.1:1/auth/callback'],
      })),
    })
  })
  afterAll(async () => {
    await provider?.stop()
  })

  async function token(client: 'a' | 'b', params: Record<string, string>) {
    const response = await fetch(`${provider.issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${client}:${secrets[client]}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams(params),
    })
    return { status: response.status, body: (await response.json()) as Record<string, string> }
  }

  const clientToken = async (client: 'a' | 'b') =>
    (await token(client, { grant_type: 'client_credentials', resource: AUDIENCE })).body
      .access_token ?? ''

  const exchange = (client: 'a' | 'b', subject: string, more: Record<string, string> = {}) =>
    token(client, {
      grant_type: DEV_TOKEN_EXCHANGE_GRANT,
      subject_token: subject,
      subject_token_type: ACCESS_TOKEN,
      resource: OTHER,
      ...more,
    })

  it('lists the grant in discovery', async () => {
    const discovery = (await (
      await fetch(`${provider.issuer}/.well-known/openid-configuration`)
    ).json()) as { grant_types_supported: string[] }
    expect(discovery.grant_types_supported).toContain(DEV_TOKEN_EXCHANGE_GRANT)
  })

  // RFC 8693 §2.2.2: a subject token invalid for any reason is answered invalid_request.
  const refusedSubject = (why: string) => ({
    status: 400,
    body: { error: 'invalid_request', error_description: why },
  })

  it('refuses a subject token issued to another client', async () => {
    expect(await exchange('b', await clientToken('a'))).toMatchObject(
      refusedSubject('subject token was issued to another client'),
    )
  })

  it('refuses a subject token whose signature does not verify', async () => {
    const [header, payload, signature] = (await clientToken('a')).split('.')
    const forged = `${header}.${payload}.${signature?.startsWith('A') ? 'B' : 'A'}${signature?.slice(1)}`
    expect(await exchange('a', forged)).toMatchObject(
      refusedSubject('subject token invalid or expired'),
    )
    expect(await exchange('a', 'not-a-token')).toMatchObject(
      refusedSubject('subject token invalid, expired or revoked'),
    )
  })

  it('refuses a subject that is not one of its users (the client’s own token)', async () => {
    expect(await exchange('a', await clientToken('a'))).toMatchObject(
      refusedSubject('unknown subject'),
    )
  })

  it('refuses an unknown audience, or resource and audience naming two', async () => {
    const subject = await clientToken('a')
    expect((await exchange('a', subject, { resource: 'http://nowhere.test' })).body.error).toBe(
      'invalid_target',
    )
    expect((await exchange('a', subject, { audience: AUDIENCE })).body.error).toBe('invalid_target')
  })
})
