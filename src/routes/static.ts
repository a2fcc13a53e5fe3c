import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { serveStatic } from '@hono/node-server/serve-static'
import { Hono } from 'hono'

/**
 * Serves the single-page app from `dir`; any other GET that is not /auth or /api gets its
 * index.html so deep links work. The page CSP is added by the security-headers middleware.
 */
export function staticRoutes(dir: string): Hono {
  const app = new Hono()
  const root = path.resolve(dir)
  let index: Promise<string> | undefined
  app.use('/assets/*', async (c, next) => {
    await next()
    if (c.res.ok) c.header('Cache-Control', 'public, max-age=31536000, immutable')
  })
  app.get('*', serveStatic({ root }))
  app.get('*', async (c) => {
    if (c.req.path.startsWith('/auth/') || c.req.path.startsWith('/api/')) return c.notFound()
    index ??= readFile(path.join(root, 'index.html'), 'utf8')
    try {
      c.header('Cache-Control', 'no-cache')
      return c.html(await index)
    } catch {
      index = undefined
      return c.text('web app not built', 404)
    }
  })
  return app
}
