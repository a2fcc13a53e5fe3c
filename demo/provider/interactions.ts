import type { IncomingMessage, ServerResponse } from 'node:http'
import type Provider from 'oidc-provider'
import type { Interaction } from 'oidc-provider'
import { checkOneTimeCode, checkPassword, type DevUsers } from './dev-users.js'
import { consentPage, errorPage, loginPage } from './pages.js'
import { ACR_PASSWORD, ACR_TWO_FACTOR, asksTwoFactor } from './provider-config.js'

const MAX_FORM_BYTES = 16 * 1024

export interface InteractionRoutes {
  /** Answers the request and returns true when it is an interaction route. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>
}

export function interactionPath(issuerPath: string, uid: string): string {
  return `${issuerPath}/interaction/${uid}`
}

/**
 * Our own login and consent pages (devInteractions is off): a real HTML form flow,
 * so the broker and the tests meet what a browser meets at a real provider.
 */
export function createInteractionRoutes(
  provider: Provider,
  issuerPath: string,
  users: DevUsers,
): InteractionRoutes {
  const prefix = `${issuerPath}/interaction/`

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    if (!path.startsWith(prefix) || path.slice(prefix.length).includes('/')) return false
    try {
      if (req.method === 'GET') await show(req, res)
      else if (req.method === 'POST') await submit(req, res)
      else send(res, 405, errorPage({ error: 'method_not_allowed' }))
    } catch (error) {
      const name = error instanceof Error ? error.name : 'Error'
      const message = error instanceof Error ? error.message : String(error)
      send(res, 400, errorPage({ error: name, error_description: message }))
    }
    return true
  }

  async function show(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res)
    const action = interactionPath(issuerPath, details.uid)
    const clientId = String(details.params.client_id)
    if (details.prompt.name === 'login') {
      const twoFactor = asksTwoFactor(details.params.acr_values)
      send(res, 200, loginPage({ action, clientId, twoFactor }))
    } else {
      send(res, 200, consentPage({ action, clientId, scopes: requestedScopes(details) }))
    }
  }

  async function submit(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = await readForm(req)
    const details = await provider.interactionDetails(req, res)
    if (details.prompt.name === 'login') {
      const username = form.get('username') ?? ''
      const twoFactor = asksTwoFactor(details.params.acr_values)
      const passed =
        checkPassword(users, username, form.get('password') ?? '') &&
        (!twoFactor || checkOneTimeCode(users, username, form.get('code') ?? ''))
      if (!passed) {
        const action = interactionPath(issuerPath, details.uid)
        const clientId = String(details.params.client_id)
        const error = twoFactor
          ? 'Unknown user name, wrong password or wrong one-time code.'
          : 'Unknown user name or wrong password.'
        send(res, 200, loginPage({ action, clientId, username, error, twoFactor }))
        return
      }
      const login = twoFactor
        ? { accountId: username, acr: ACR_TWO_FACTOR, amr: ['pwd', 'otp'] }
        : { accountId: username, acr: ACR_PASSWORD, amr: ['pwd'] }
      const result = { login }
      await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false })
      return
    }
    if (form.get('decision') !== 'allow') {
      const result = { error: 'access_denied', error_description: 'End-User denied the request' }
      await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false })
      return
    }
    const grantId = await grantEverythingRequested(provider, details)
    const result = { consent: { grantId } }
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false })
  }

  return { handle }
}

function requestedScopes(details: Interaction): string[] {
  const missing = details.prompt.details
  const oidc = (missing.missingOIDCScope as string[] | undefined) ?? []
  const resources = (missing.missingResourceScopes as Record<string, string[]> | undefined) ?? {}
  return [...oidc, ...Object.values(resources).flat()]
}

/** Grants what the consent prompt reports missing, offline_access included. */
async function grantEverythingRequested(provider: Provider, details: Interaction): Promise<string> {
  const accountId = details.session?.accountId
  const clientId = String(details.params.client_id)
  const existing = details.grantId ? await provider.Grant.find(details.grantId) : undefined
  const grant = existing ?? new provider.Grant({ accountId, clientId })
  const missing = details.prompt.details
  const scopes = missing.missingOIDCScope as string[] | undefined
  const claims = missing.missingOIDCClaims as string[] | undefined
  const resources = missing.missingResourceScopes as Record<string, string[]> | undefined
  if (scopes) grant.addOIDCScope(scopes.join(' '))
  if (claims) grant.addOIDCClaims(claims)
  for (const [indicator, resourceScopes] of Object.entries(resources ?? {})) {
    grant.addResourceScope(indicator, resourceScopes.join(' '))
  }
  return grant.save()
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_FORM_BYTES) throw new Error('form body too large')
    chunks.push(chunk as Buffer)
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
}

function send(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
  })
  res.end(html)
}
