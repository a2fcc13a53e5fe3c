import { exportJWK, generateKeyPair } from 'jose'
import { afterEach, describe, expect, it } from 'vitest'
import { type DemoApi, startDemoApi } from '../../demo/api/create-demo-api.js'
import type { DevClient, SigningAlg } from '../../demo/provider/create-provider.js'
import type { BffOptions } from '../../src/config/schema.js'
import { reserveBrokerUrl, startBroker, type TestBroker } from '../support/broker.js'
import { endSessionFormOf } from '../support/html-form.js'
import { HttpBrowser } from '../support/http-browser.js'
import { startTestProvider, type TestProvider } from '../support/provider.js'

interface ProviderShape {
  name: string
  issuerPath: string
  alg: SigningAlg
  auth: DevClient['token_endpoint_auth_method']
  requirePar: boolean
}

/* "Any provider": configurations that differ in issuer shape, signing algorithm, client authentication and PAR. */
const shapes: ProviderShape[] = [
  {
    name: 'root issuer, RS256, client_secret_basic',
    issuerPath: '',
    alg: 'RS256',
    auth: 'client_secret_basic',
    requirePar: false,
  },
  {
    name: 'Keycloak-style realm path, PS256, client_secret_post, PAR required',
    issuerPath: '/realms/test',
    alg: 'PS256',
    auth: 'client_secret_post',
    requirePar: true,
  },
  {
    name: 'nested path, ES256, private_key_jwt',
    issuerPath: '/tenants/acme/oidc',
    alg: 'ES256',
    auth: 'private_key_jwt',
    requirePar: false,
  },
]

describe('full sign-in against differently shaped providers', () => {
  let running: { provider: TestProvider; api: DemoApi; broker: TestBroker } | undefined

  afterEach(async () => {
    await running?.broker.stop()
    await running?.api.stop()
    await running?.provider.stop()
    running = undefined
  })

  it.each(shapes)('signs in, calls the API and signs out: $name', async (shape) => {
    const address = await reserveBrokerUrl()
    const clientId = 'bff-shape'
    const secret = `test-${crypto.randomUUID()}`
    const brokerAuth: Partial<BffOptions> = { clientAuth: shape.auth }
    const client: DevClient = {
      client_id: clientId,
      token_endpoint_auth_method: shape.auth,
      redirect_uris: [`${address.url}/auth/callback`],
      post_logout_redirect_uris: [`${address.url}/auth/signed-out`],
      id_token_signed_response_alg: shape.alg,
    }
    if (shape.auth === 'private_key_jwt') {
      const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true })
      client.jwks = {
        keys: [{ ...(await exportJWK(publicKey)), kid: 'bff-key', alg: 'ES256', use: 'sig' }],
      }
      brokerAuth.clientPrivateKey = JSON.stringify({
        ...(await exportJWK(privateKey)),
        kid: 'bff-key',
        alg: 'ES256',
      })
      brokerAuth.clientPrivateKeyAlg = 'ES256'
    } else {
      client.client_secret = secret
      brokerAuth.clientSecret = secret
    }
    const provider = await startTestProvider({
      redirectUri: `${address.url}/auth/callback`,
      publicHost: 'localhost',
      issuerPath: shape.issuerPath,
      idTokenSigningAlg: shape.alg,
      requirePar: shape.requirePar,
      apiAudience: 'http://shape-api.test',
      clients: [client],
    })
    const api = await startDemoApi({
      issuer: provider.issuer,
      jwksUri: provider.jwksUri,
      audience: 'http://shape-api.test',
    })
    const broker = await startBroker(address, {
      issuer: provider.issuer,
      clientId,
      ...brokerAuth,
      apiRoutes: [{ prefix: '/api/demo', upstream: api.url }],
    })
    running = { provider, api, broker }
    expect(provider.issuer.endsWith(shape.issuerPath)).toBe(true)

    const browser = new HttpBrowser()
    const { callbackResponse } = await browser.login({
      brokerUrl: broker.url,
      username: 'bob',
      password: provider.users.bob?.password ?? '',
      returnTo: '/deep/link',
    })
    expect(callbackResponse.status).toBe(200)
    expect(provider.counts().authorizationCodeGrants).toBe(1)
    expect(provider.counts().pushedAuthorizationRequests).toBe(shape.requirePar ? 1 : 0)

    const fetchInit = { kind: 'fetch' as const, initiator: broker.url, headers: { 'x-csrf': '1' } }
    const user = await browser.request(`${broker.url}/auth/user`, fetchInit)
    expect(await user.json()).toMatchObject({ sub: 'bob', claims: { name: 'Bob Example' } })
    const call = await browser.request(`${broker.url}/api/demo/whoami`, fetchInit)
    expect(call.status).toBe(200)
    expect(await call.json()).toMatchObject({ sub: 'bob' })

    const logout = await browser.request(`${broker.url}/auth/logout`, {
      method: 'POST',
      initiator: broker.url,
    })
    expect(logout.status).toBe(200)
    const form = await endSessionFormOf(logout, `${broker.url}/auth/logout`)
    expect(form.action.startsWith(provider.issuer)).toBe(true)
    expect(provider.counts().revocations).toBe(1)
  })
})
