import { context, type TextMapGetter } from '@opentelemetry/api'
import type { Context, MiddlewareHandler } from 'hono'
import { routePath } from 'hono/route'
import { BffError } from '../errors/bff-error.js'
import { endRequestSpan, startRequestSpan, tracingOn } from '../observability/tracing.js'

const fetchHeaders: TextMapGetter<Headers> = {
  get: (headers, key) => headers.get(key) ?? undefined,
  keys: (headers) => [...headers.keys()],
}

/**
 * The route template that answered: the /api route's configured prefix, else Hono's matched
 * path; none when nothing matched (Hono's 404 sets no error code) or only a catch-all did.
 */
function routeOf(c: Context): string | undefined {
  const prefix = c.get('apiPrefix')
  if (prefix !== undefined) return `${prefix}/*`
  if (c.res.status === 404 && c.get('errorCode') === undefined) return undefined
  const path = routePath(c)
  return path === '' || path === '*' ? undefined : path
}

/**
 * The SERVER span of every request Hono serves (the node-level /api lane makes its own, see
 * routes/api-lane.ts); nothing at all while no tracer provider is registered.
 */
export function requestSpan(): MiddlewareHandler {
  return async function requestSpanMiddleware(c, next) {
    if (!tracingOn()) return next()
    const started = startRequestSpan({
      method: c.req.method,
      path: c.req.path,
      headers: c.req.raw.headers,
      getter: fetchHeaders,
    })
    try {
      await context.with(started.context, next)
    } finally {
      const error = c.error instanceof BffError ? c.error.code : c.error ? 'internal' : undefined
      endRequestSpan(started, {
        route: routeOf(c),
        status: c.get('proxiedStatus') ?? c.res.status,
        error: c.get('errorCode') ?? error,
        requestId: c.get('requestId'),
      })
    }
  }
}
