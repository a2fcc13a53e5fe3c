import './style.css'
import { apiPanel } from './api-panel'
import { bffFetch, onSignedOut, signOut, takeSilentOutcome } from './bff-fetch'
import { h } from './dom'
import { livePanel } from './live-panel'
import { signedOutView } from './signed-out'
import { type User, userPanel } from './user-panel'

type State = 'loading' | 'signed-in' | 'signed-out' | 'error'

const app = document.getElementById('app') as HTMLElement
let state: State = 'loading'
const silentOutcome = takeSilentOutcome()

onSignedOut((reason) => {
  if (state === 'signed-out') return // a burst can bring many 401s at once
  // On first load a missing session is normal, not worth explaining.
  show(
    'signed-out',
    signedOutView(
      state === 'signed-in' || reason === 'session_expired' ? reason : undefined,
      silentOutcome,
    ),
  )
})

function show(next: State, view: Node): void {
  state = next
  app.replaceChildren(header(), view)
}

function header(): HTMLElement {
  const path = location.pathname + location.search
  return h(
    'header',
    {},
    h('h1', {}, 'Session broker demo'),
    h('p', { class: 'where' }, 'You are at ', h('code', { 'data-testid': 'current-path' }, path)),
    h(
      'nav',
      { 'aria-label': 'Deep links' },
      h('a', { href: '/' }, 'Home'),
      h('a', { href: '/orders/42' }, '/orders/42'),
      h('a', { href: '/settings?tab=profile' }, '/settings?tab=profile'),
    ),
  )
}

function signedInView(user: User): HTMLElement {
  const button = h('button', { type: 'button', 'data-testid': 'sign-out' }, 'Sign out')
  const everywhere = h(
    'button',
    { type: 'button', 'data-testid': 'sign-out-everywhere' },
    'Sign out everywhere',
  )
  for (const [control, all] of [
    [button, false],
    [everywhere, true],
  ] as const) {
    control.addEventListener('click', () => {
      button.disabled = true
      everywhere.disabled = true
      signOut({ everywhere: all })
    })
  }
  return h(
    'div',
    { class: 'stack', 'data-testid': 'signed-in' },
    userPanel(user),
    apiPanel(),
    livePanel(),
    h('div', { class: 'actions' }, button, everywhere),
  )
}

function errorView(message: string): HTMLElement {
  const retry = h('button', { type: 'button' }, 'Try again')
  retry.addEventListener('click', () => location.reload())
  return h(
    'section',
    { class: 'card', role: 'alert', 'data-testid': 'load-error' },
    h('h2', {}, 'The broker is not available'),
    h('p', {}, message),
    retry,
  )
}

async function start(): Promise<void> {
  app.replaceChildren(header(), h('p', { 'data-testid': 'loading' }, 'Loading…'))
  try {
    const response = await bffFetch('/auth/user')
    if (response.ok) show('signed-in', signedInView((await response.json()) as User))
    else if (response.status !== 401) {
      const retryAfter = response.headers.get('Retry-After')
      show(
        'error',
        errorView(
          `GET /auth/user answered ${response.status}${retryAfter ? `; retry after ${retryAfter} s` : ''}.`,
        ),
      )
    }
    // 401: the onSignedOut handler has already rendered the signed-out view.
  } catch (error) {
    show('error', errorView(`Network error: ${String(error)}`))
  }
}

void start()
