/**
 * (c) The peer: express + express-openid-connect (sessions in Redis through
 * connect-redis) + http-proxy-middleware, proxying `/api/bench` to the upstream with
 * the session's access token as a Bearer header. Same provider, its own client.
 */
import http from 'node:http'
import { RedisStore } from 'connect-redis'
import express, { type NextFunction, type Request, type Response } from 'express'
import expressOpenIdConnect from 'express-openid-connect'
import { createProxyMiddleware } from 'http-proxy-middleware'
import { createClient } from 'redis'
import { announceReady, fail, onShutdown, settings } from '../lib/child.js'

export interface PeerTargetSettings {
  port: number
  issuer: string
  clientId: string
  clientSecret: string
  redisUrl: string
  keyPrefix: string
  sessionSecret: string
  upstreamUrl: string
  scope: string
}

// CommonJS without static export names: the default import is module.exports.
const { auth, requiresAuth } = expressOpenIdConnect
const s = settings<PeerTargetSettings>()

async function main() {
  const redis = createClient({ url: s.redisUrl })
  redis.on('error', (error: unknown) => console.error('peer redis:', error))
  await redis.connect()

  const app = express()
  app.disable('x-powered-by')
  app.use(
    auth({
      issuerBaseURL: s.issuer,
      baseURL: `http://127.0.0.1:${s.port}`,
      clientID: s.clientId,
      clientSecret: s.clientSecret,
      secret: s.sessionSecret,
      authRequired: false,
      errorOnRequiredAuth: true,
      idpLogout: false,
      routes: { login: '/auth/login', callback: '/auth/callback', logout: '/auth/logout' },
      authorizationParams: { response_type: 'code', response_mode: 'query', scope: s.scope },
      session: { store: new RedisStore({ client: redis, prefix: s.keyPrefix }) as never },
    }),
  )

  const proxy = createProxyMiddleware<Request, Response>({
    target: s.upstreamUrl,
    changeOrigin: true,
    // Keep-alive to the upstream, like the other two targets (http-proxy's default opens
    // a connection per request, which would measure a configuration, not the stack).
    agent: new http.Agent({ keepAlive: true, maxSockets: 256 }),
    on: {
      proxyReq: (proxyReq, req) => {
        proxyReq.removeHeader('cookie')
        proxyReq.setHeader('authorization', `Bearer ${req.oidc.accessToken?.access_token ?? ''}`)
      },
    },
  })
  app.use(
    '/api/bench',
    requiresAuth(),
    // What a peer app does on every call: a fresh access token, refreshed when due.
    async (req: Request, _res: Response, next: NextFunction) => {
      try {
        const token = req.oidc.accessToken
        if (!token) throw new Error('no access token in the session')
        if (token.isExpired()) await token.refresh()
        next()
      } catch (error) {
        next(error)
      }
    },
    proxy,
  )

  const server = app.listen(s.port, '127.0.0.1', () => announceReady({ port: s.port }))
  server.keepAliveTimeout = 120_000
  server.on('error', fail)
  onShutdown(async () => {
    await new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
    await redis.quit().catch(() => {})
  })
}

main().catch(fail)
