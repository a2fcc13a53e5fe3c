import { type SignedOutReason, signIn } from './bff-fetch'
import { h } from './dom'

/** `reason` is shown only when the app knows why the session ended. */
export function signedOutView(reason?: SignedOutReason): HTMLElement {
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
  return h(
    'section',
    { class: 'card', 'data-testid': 'signed-out' },
    message &&
      h('p', { class: 'notice', role: 'status', 'data-testid': 'signout-reason' }, message),
    h('h2', {}, 'You are signed out'),
    h('p', {}, 'Sign in with your identity provider. You will come back to this page.'),
    button,
  )
}
