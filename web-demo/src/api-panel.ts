import { bffFetch } from './bff-fetch'
import { h } from './dom'

const BURST_SIZE = 30

export function apiPanel(): HTMLElement {
  const status = h('p', { class: 'status', 'data-testid': 'api-status' })
  const result = h('pre', { 'data-testid': 'api-result' })
  const burstResult = h('p', { class: 'status', 'data-testid': 'burst-result' })

  /** A button that GETs `path` through the broker and shows the answer. */
  const caller = (testId: string, label: string, path: string, note = '') => {
    const button = h('button', { type: 'button', 'data-testid': testId }, label)
    button.addEventListener('click', () =>
      busy(button, async () => {
        status.textContent = `Calling GET ${path}${note}…`
        result.textContent = ''
        try {
          const response = await bffFetch(path)
          const body = await readBody(response)
          status.textContent = describeResponse(response, body)
          status.dataset.ok = String(response.ok)
          result.textContent = typeof body === 'string' ? body : JSON.stringify(body, null, 2)
        } catch (error) {
          status.textContent = `Network error: ${String(error)}`
          status.dataset.ok = 'false'
        }
      }),
    )
    return button
  }
  const callButton = caller('call-api', 'Call API', '/api/demo/hello')
  // A session signed in with a password alone gets 401 step_up_required: bffFetch then goes
  // to the provider for the one-time code and comes back to this page.
  const sensitiveButton = caller(
    'call-sensitive',
    'Call step-up API',
    '/api/sensitive/hello',
    ' (needs the one-time code)',
  )

  const burstButton = h(
    'button',
    { type: 'button', 'data-testid': 'burst' },
    `Burst ×${BURST_SIZE}`,
  )
  burstButton.addEventListener('click', () =>
    busy(burstButton, async () => {
      burstResult.textContent = `Sending ${BURST_SIZE} parallel requests…`
      const started = performance.now()
      const text = await burst()
      burstResult.textContent = text
      burstResult.dataset.ok = String(text === `${BURST_SIZE}/${BURST_SIZE} ok`)
      burstResult.title = `${Math.round(performance.now() - started)} ms`
    }),
  )

  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'api-heading' },
    h('h2', { id: 'api-heading' }, 'Call the API through the broker'),
    h(
      'p',
      { class: 'hint' },
      'Requests go to /api/demo on this origin; the broker adds the access token.',
    ),
    h('div', { class: 'actions' }, callButton, sensitiveButton, burstButton),
    status,
    result,
    burstResult,
  )
}

/** Parallel GETs with unique URLs, so neither the browser nor a cache can merge them. */
async function burst(): Promise<string> {
  const outcomes = await Promise.all(
    Array.from({ length: BURST_SIZE }, async (_, i) => {
      try {
        const response = await bffFetch(
          `/api/demo/burst/${i}?n=${Math.random().toString(36).slice(2)}`,
        )
        await response.arrayBuffer()
        return response.ok ? 'ok' : String(response.status)
      } catch {
        return 'network error'
      }
    }),
  )
  const failures = new Map<string, number>()
  for (const outcome of outcomes) {
    if (outcome !== 'ok') failures.set(outcome, (failures.get(outcome) ?? 0) + 1)
  }
  const ok = BURST_SIZE - outcomes.filter((o) => o !== 'ok').length
  if (failures.size === 0) return `${ok}/${BURST_SIZE} ok`
  const details = [...failures].map(([status, count]) => `${count}× ${status}`).join(', ')
  return `${ok}/${BURST_SIZE} ok, failed: ${details}`
}

async function readBody(response: Response): Promise<unknown> {
  const text = await response.text()
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** "200 OK", or the broker's error code, plus Retry-After for 503s. */
function describeResponse(response: Response, body: unknown): string {
  const error = (body as { error?: unknown } | null)?.error
  let text = `${response.status} ${typeof error === 'string' ? error : response.statusText || ''}`
  const retryAfter = response.headers.get('Retry-After')
  if (retryAfter) text += ` (retry after ${retryAfter} s)`
  return text.trim()
}

async function busy(button: HTMLButtonElement, work: () => Promise<void>): Promise<void> {
  button.disabled = true
  try {
    await work()
  } finally {
    button.disabled = false
  }
}
