import { type DemoApi, type DemoApiOptions, startDemoApi } from '../../demo/api/create-demo-api.js'
import type { BffDeps } from '../../src/app.js'
import type { BffOptions } from '../../src/config/schema.js'
import { reserveBrokerUrl, startBroker, type TestBroker } from './broker.js'
import { startTestProvider, type TestProvider, type TestProviderOptions } from './provider.js'

export const DEMO_AUDIENCE = 'http://demo-api.test'

export interface ProviderStack {
  provider: TestProvider
  api: DemoApi
  broker: TestBroker
  stop(): Promise<void>
}

export interface ProviderStackOptions {
  provider?: Partial<TestProviderOptions>
  api?: Partial<DemoApiOptions>
  /** The broker's options beyond issuer and client, given the demo API's URL. */
  broker: (apiUrl: string) => Partial<BffOptions>
  deps?: BffDeps
}

/**
 * The whole product on real parts: the dev provider on `localhost` (another site than the
 * broker on 127.0.0.1, so SameSite rules apply in the test browser), the demo API verifying
 * tokens against its JWKS, and a broker for them on a real Redis.
 */
export async function startProviderStack(options: ProviderStackOptions): Promise<ProviderStack> {
  const address = await reserveBrokerUrl()
  const provider = await startTestProvider({
    publicHost: 'localhost',
    redirectUri: `${address.url}/auth/callback`,
    apiAudience: DEMO_AUDIENCE,
    ...options.provider,
  })
  const api = await startDemoApi({
    issuer: provider.issuer,
    jwksUri: provider.jwksUri,
    audience: DEMO_AUDIENCE,
    ...options.api,
  })
  const broker = await startBroker(
    address,
    {
      issuer: provider.issuer,
      clientId: provider.clientId,
      clientSecret: provider.clientSecret,
      ...options.broker(api.url),
    },
    options.deps,
  )
  return {
    provider,
    api,
    broker,
    async stop() {
      await broker.stop()
      await api.stop()
      await provider.stop()
    },
  }
}
