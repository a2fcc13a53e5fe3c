import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import * as client from 'openid-client'

export interface StartedLogin {
  state: string
  nonce: string
  codeVerifier: string
}

export interface StubRelyingParty {
  url: string
  redirectUri: string
  postLogoutRedirectUri: string
  backchannelLogoutUri: string
  /** Logins begun at /auth/login, by state. */
  logins: Map<string, StartedLogin>
  /** Bodies POSTed to the back-channel logout URI. */
  backchannelBodies: string[]
  /** Point the stub at a provider once it is running (the provider needs our URLs first). */
  use(config: client.Configuration): void
  stop(): Promise<void>
}

/**
 * A stand-in for the broker's /auth routes, only so the support self-test can drive
 * HttpBrowser.login against the dev provider. It is not a model of the broker.
 */
export async function startStubRelyingParty(authParams: Record<string, string> = {}) {
  let config: client.Configuration | undefined
  const logins = new Map<string, StartedLogin>()
  const backchannelBodies: string[] = []

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://stub')
    if (url.pathname === '/auth/login' && config) {
      const started = {
        state: client.randomState(),
        nonce: client.randomNonce(),
        codeVerifier: client.randomPKCECodeVerifier(),
      }
      logins.set(started.state, started)
      const location = client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: 'openid profile email offline_access api:read',
        code_challenge: await client.calculatePKCECodeChallenge(started.codeVerifier),
        code_challenge_method: 'S256',
        state: started.state,
        nonce: started.nonce,
        ...authParams,
      })
      // Two cookies, so the self-test can show which SameSite values survive the
      // cross-site return to the callback.
      res.writeHead(302, {
        location: location.href,
        'set-cookie': ['tx=1; Path=/; HttpOnly; SameSite=Lax', 'strict=1; Path=/; SameSite=Strict'],
      })
      res.end()
    } else if (url.pathname === '/auth/backchannel-logout' && req.method === 'POST') {
      backchannelBodies.push(await readBody(req))
      res.writeHead(200).end()
    } else if (url.pathname === '/auth/callback') {
      res
        .writeHead(200, { 'content-type': 'text/plain' })
        .end(`cookie: ${req.headers.cookie ?? ''}`)
    } else {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`stub ${url.pathname}`)
    }
  })
  const port = await new Promise<number>((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))
  })
  const base = `http://127.0.0.1:${port}`
  const redirectUri = `${base}/auth/callback`

  const stub: StubRelyingParty = {
    url: base,
    redirectUri,
    postLogoutRedirectUri: `${base}/`,
    backchannelLogoutUri: `${base}/auth/backchannel-logout`,
    logins,
    backchannelBodies,
    use: (next) => {
      config = next
    },
    stop: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
  return stub
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}
