import { type SignedOutReason, signIn, signInSilently } from './bff-fetch'
import { h } from './dom'

/**
 * `reason` is shown only when the app knows why the session ended; `silentOutcome` when a
 * silent sign-in has just come back without a session.
 */
export function signedOutView(reason?: SignedOutReason, silentOutcome?: string): HTMLElement {
  const message =
    reason === 'session_expired'
      ? 'Your session expired'
      : reason === 'unauthenticated'
        ? 'Your session ended'
        : null
  const button = h(
    'button',
    { type: 'button', class: 'primary', 'data-testid': 'sign-in' },
    'Sign in',
  )
  button.addEventListener('click', () => signIn())
  const silent = h(
    'button',
    { type: 'button', 'data-testid': 'silent-sign-in' },
    'Try silent sign-in',
  )
  silent.addEventListener('click', () => signInSilently())
  return h(
    'section',
    { class: 'card', 'data-testid': 'signed-out' },
    message &&
      h('p', { class: 'notice', role: 'status', 'data-testid': 'signout-reason' }, message),
    h('h2', {}, 'You are signed out'),
    h('p', {}, 'Sign in with your identity provider. You will come back to this page.'),
    silentOutcome &&
      h(
        'p',
        { class: 'notice', role: 'status', 'data-testid': 'silent-outcome' },
        `Silent sign-in: ${silentOutcome}`,
      ),
    h('div', { class: 'actions' }, button, silent),
  )
}
