import { startDevProvider } from './create-provider.js'

// Demo only: the launcher generates OIDC_CLIENT_SECRET and hands it to us and the broker.
const clientSecret = process.env.OIDC_CLIENT_SECRET
if (!clientSecret) {
  console.error('dev provider: set OIDC_CLIENT_SECRET (the demo launcher generates one)')
  process.exit(1)
}
const publicUrl = (process.env.PUBLIC_URL ?? 'http://localhost:3000').replace(/\/$/, '')
const apiPort = process.env.DEMO_API_PORT ?? '4020'

const devProvider = await startDevProvider({
  port: Number(process.env.DEMO_PROVIDER_PORT ?? 4010),
  publicHost: 'localhost',
  apiAudience: process.env.DEMO_API_AUDIENCE ?? `http://localhost:${apiPort}`,
  accessTokenTtlSeconds: Number(process.env.DEMO_ACCESS_TOKEN_TTL ?? 60),
  clients: [
    {
      client_id: process.env.OIDC_CLIENT_ID ?? 'bff-demo',
      client_secret: clientSecret,
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: [`${publicUrl}/auth/callback`],
      post_logout_redirect_uris: [`${publicUrl}/`],
      backchannel_logout_uri: `${publicUrl}/auth/backchannel-logout`,
    },
  ],
})

console.log(`dev OpenID provider: issuer ${devProvider.issuer}`)
console.log('dev-only users (passwords and one-time codes change at every start):')
for (const [username, { password, oneTimeCode }] of Object.entries(devProvider.users)) {
  console.log(`  ${username} / ${password} (one-time code ${oneTimeCode})`)
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    devProvider.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  })
}
