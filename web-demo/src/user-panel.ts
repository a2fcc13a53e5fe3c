import { formatTime, h } from './dom'

/** What `GET /auth/user` returns: claims for the UI, never tokens. */
export interface User {
  sub: string
  claims: { name?: string; email?: string; preferred_username?: string; [claim: string]: unknown }
  sessionExpiresAt: string
  absoluteExpiresAt: string
  /** How strongly the provider says the user signed in (ID token acr), if it said. */
  acr?: string
}

export function userPanel(user: User): HTMLElement {
  const { claims } = user
  const name = claims.name ?? claims.preferred_username ?? user.sub
  const username = claims.preferred_username && claims.preferred_username !== name
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'user-heading' },
    h(
      'h2',
      { id: 'user-heading' },
      'Signed in as ',
      h('span', { 'data-testid': 'user-name' }, name),
    ),
    h(
      'dl',
      {},
      username && row('Username', h('span', {}, String(claims.preferred_username))),
      row('Email', h('span', { 'data-testid': 'user-email' }, claims.email ?? '—')),
      row('Subject', h('code', { 'data-testid': 'user-sub' }, user.sub)),
      row('Session expires', time(user.sessionExpiresAt, 'session-expires')),
      row('Absolute expiry', time(user.absoluteExpiresAt, 'absolute-expires')),
      row('Sign-in strength', h('code', { 'data-testid': 'user-acr' }, user.acr ?? '—')),
    ),
  )
}

function row(label: string, value: Node): DocumentFragment {
  const fragment = document.createDocumentFragment()
  fragment.append(h('dt', {}, label), h('dd', {}, value))
  return fragment
}

function time(iso: string, testId: string): HTMLTimeElement {
  return h('time', { datetime: iso, 'data-testid': testId, title: iso }, formatTime(iso))
}
