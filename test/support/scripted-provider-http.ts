import { createHash, randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'

export interface RawResponse {
  status: number
  body: string
  contentType?: string
}

export const random = () => randomBytes(24).toString('base64url')
export const epoch = () => Math.floor(Date.now() / 1000)

export function isRaw(r: Record<string, unknown> | RawResponse): r is RawResponse {
  return typeof r.status === 'number' && typeof r.body === 'string'
}

export function send(res: ServerResponse, status: number, body: string, contentType: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' })
  res.end(body)
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, JSON.stringify(body), 'application/json')
}

export function oauthError(
  res: ServerResponse,
  status: number,
  error: string,
  description: string,
) {
  json(res, status, { error, error_description: description })
}

export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
}

export function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value
  }
  return out
}

/** Client id from client_secret_basic, else the form body (post / private_key_jwt / none). */
export function requestClientId(headers: Record<string, string>, params: URLSearchParams) {
  const auth = headers.authorization
  if (auth?.toLowerCase().startsWith('basic ')) {
    const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8')
    return decodeURIComponent(decoded.slice(0, decoded.indexOf(':')))
  }
  return params.get('client_id') ?? undefined
}

export const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url')
