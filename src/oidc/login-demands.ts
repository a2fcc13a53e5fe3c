import { BffError } from '../errors/bff-error.js'
import type { LoginDemands } from '../session/types.js'

/** What a route demands of the session's sign-in (config/schema.ts: acr, authMaxAgeSeconds). */
export interface StepUpDemand {
  acr?: readonly string[] | undefined
  authMaxAgeSeconds?: number | undefined
}

/** The acr_values and max_age values GET /auth/login may ask the provider for. */
export interface AllowedDemands {
  acrValues: ReadonlySet<string>
  maxAges: ReadonlySet<number>
}

/** The routes' own demands are always allowed; configuration may allow more. */
export function allowedDemands(config: {
  apiRoutes: readonly StepUpDemand[]
  loginAcrValues: readonly string[]
  loginMaxAges: readonly number[]
}): AllowedDemands {
  const acrValues = new Set(config.loginAcrValues)
  const maxAges = new Set(config.loginMaxAges)
  for (const route of config.apiRoutes) {
    for (const acr of route.acr ?? []) acrValues.add(acr)
    if (route.authMaxAgeSeconds !== undefined) maxAges.add(route.authMaxAgeSeconds)
  }
  return { acrValues, maxAges }
}

const LOGIN_PATH = '/auth/login'
const MAX_ACR_VALUES = 10

/**
 * Reads a sign-in's own demands from GET /auth/login: `acr_values` (space-separated) and
 * `max_age` from the allow-list, and `prompt=none` (silent sign-in). Anything else in those
 * parameters, or one of them repeated, is refused: a sign-in link cannot make the broker ask
 * the provider for what the application never configured.
 */
export function loginDemandsFrom(query: URLSearchParams, allowed: AllowedDemands): LoginDemands {
  const demands: LoginDemands = {}
  const acr = single(query, 'acr_values')
  if (acr !== undefined) {
    const values = acr.split(' ')
    if (values.length > MAX_ACR_VALUES || values.some((v) => !allowed.acrValues.has(v))) {
      throw refused('acr_values not on the allow-list')
    }
    demands.acrValues = [...new Set(values)]
  }
  const maxAge = single(query, 'max_age')
  if (maxAge !== undefined) {
    if (!/^\d{1,8}$/.test(maxAge) || !allowed.maxAges.has(Number(maxAge))) {
      throw refused('max_age not on the allow-list')
    }
    demands.maxAge = Number(maxAge)
  }
  const prompt = single(query, 'prompt')
  if (prompt !== undefined) {
    if (prompt !== 'none') throw refused('prompt other than none')
    demands.silent = true
  }
  return demands
}

function single(query: URLSearchParams, name: string): string | undefined {
  const values = query.getAll(name)
  if (values.length > 1) throw refused(`${name} repeated`)
  return values[0]
}

function refused(detail: string): BffError {
  return new BffError('invalid_login_request', { detail })
}

/** Whether a session's sign-in meets a route's demand: its acr and its age at `nowMs`. */
export function meetsDemand(
  signIn: { acr?: string | undefined; authTime?: number | undefined },
  demand: StepUpDemand,
  nowMs: number,
): boolean {
  if (demand.acr && (signIn.acr === undefined || !demand.acr.includes(signIn.acr))) return false
  if (demand.authMaxAgeSeconds === undefined) return true
  return signIn.authTime !== undefined && nowMs / 1000 - signIn.authTime <= demand.authMaxAgeSeconds
}

/**
 * The refusal of a session whose sign-in does not meet a route's demand: 401
 * step_up_required with the sign-in URL that asks the provider for it (the app adds its
 * returnTo), and the same demand as an RFC 9470 challenge.
 */
export function stepUpRequired(demand: StepUpDemand): BffError {
  const query = new URLSearchParams()
  const challenge = ['error="insufficient_user_authentication"']
  if (demand.acr) {
    query.set('acr_values', demand.acr.join(' '))
    challenge.push(`acr_values="${demand.acr.join(' ')}"`)
  }
  if (demand.authMaxAgeSeconds !== undefined) {
    query.set('max_age', String(demand.authMaxAgeSeconds))
    challenge.push(`max_age=${demand.authMaxAgeSeconds}`)
  }
  return new BffError('step_up_required', {
    detail: 'sign-in below the route demand',
    publicFields: {
      login_url: `${LOGIN_PATH}?${query}`,
      ...(demand.acr && { acr_values: demand.acr.join(' ') }),
      ...(demand.authMaxAgeSeconds !== undefined && { max_age: demand.authMaxAgeSeconds }),
    },
    wwwAuthenticate: `Bearer ${challenge.join(', ')}`,
  })
}
