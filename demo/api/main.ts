import { startDemoApi } from './create-demo-api.js'

// Demo only: configuration comes straight from the environment the launcher sets.
const issuer = process.env.OIDC_ISSUER
if (!issuer) {
  console.error('demo api: set OIDC_ISSUER to the provider issuer URL')
  process.exit(1)
}
const port = Number(process.env.DEMO_API_PORT ?? 4020)
const jwksUri = await discoverJwksUri(issuer)
const audience = process.env.DEMO_API_AUDIENCE ?? `http://localhost:${port}`

const api = await startDemoApi({ port, issuer, jwksUri, audience })
console.log(`demo api listening on ${api.url} (issuer ${issuer}, audience ${audience})`)

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    api.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  })
}

/** The launcher starts the provider alongside us, so wait for it for a while. */
async function discoverJwksUri(issuer: string): Promise<string> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await fetch(url)
      if (response.ok) return ((await response.json()) as { jwks_uri: string }).jwks_uri
      throw new Error(`answered ${response.status}`)
    } catch (error) {
      if (attempt >= 30) {
        console.error(`demo api: discovery at ${url} failed: ${String(error)}`)
        process.exit(1)
      }
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
  }
}
