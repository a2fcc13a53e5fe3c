import { h } from './dom'

/** The broker closes a socket with this code when its session ends (any tab, any device). */
const SESSION_ENDED = 4401

interface Tick {
  n: number
  at: string
}

/**
 * A WebSocket to the demo API through the broker (`/api/demo/live`): the browser sends only
 * its session cookie and Origin (a WebSocket cannot carry the CSRF header; the broker checks
 * the Origin instead), the broker adds the access token upstream. The API ticks once a second.
 */
export function livePanel(): HTMLElement {
  const status = h('p', { class: 'status', 'data-testid': 'live-status' }, 'Connecting…')
  const count = h('strong', { 'data-testid': 'live-count' }, '0')
  const last = h('span', { class: 'hint', 'data-testid': 'live-at' })
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  const socket = new WebSocket(`${scheme}://${location.host}/api/demo/live`)
  socket.addEventListener('open', () => {
    status.textContent = 'Connected'
    status.dataset.ok = 'true'
  })
  socket.addEventListener('message', (event) => {
    const tick = JSON.parse(String(event.data)) as Tick
    count.textContent = String(tick.n)
    last.textContent = ` (last at ${new Date(tick.at).toLocaleTimeString()})`
  })
  socket.addEventListener('close', (event) => {
    status.dataset.ok = 'false'
    status.dataset.code = String(event.code)
    status.textContent =
      event.code === SESSION_ENDED
        ? 'Closed by the broker: your session ended (4401)'
        : `Closed (${event.code})`
  })
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'live-heading' },
    h('h2', { id: 'live-heading' }, 'Live updates over a WebSocket'),
    h(
      'p',
      { class: 'hint' },
      'A socket to /api/demo/live on this origin; the broker closes it when the session ends.',
    ),
    h('p', {}, 'Ticks received: ', count, last),
    status,
  )
}
