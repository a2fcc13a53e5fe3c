/** Just enough HTML form parsing for the provider's login, consent and logout pages. */
export interface HtmlForm {
  id?: string
  action: string
  method: 'GET' | 'POST'
  /** Named inputs with their current values (text, hidden, password...). */
  fields: Record<string, string>
  buttons: Array<{ name?: string; value?: string; text: string }>
  /** Names of inputs of type password: the mark of a login form. */
  passwordFields: string[]
}

const ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  '#39': "'",
  '#x27': "'",
  '#x2F': '/',
}

function decodeEntities(value: string): string {
  return value.replace(/&(#?\w+);/g, (match, entity: string) => ENTITIES[entity] ?? match)
}

function attributes(tag: string): Record<string, string> {
  const result: Record<string, string> = {}
  const pattern = /([\w:.-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g
  for (const match of tag.matchAll(pattern)) {
    const name = match[1]?.toLowerCase()
    if (!name) continue
    result[name] = decodeEntities(match[2] ?? match[3] ?? match[4] ?? '')
  }
  return result
}

export function parseForms(html: string, pageUrl: string): HtmlForm[] {
  const forms: HtmlForm[] = []
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attrs = attributes(match[1] ?? '')
    const body = match[2] ?? ''
    const fields: Record<string, string> = {}
    const passwordFields: string[] = []
    for (const input of body.matchAll(/<input\b([^>]*)>/gi)) {
      const inputAttrs = attributes(input[1] ?? '')
      const type = (inputAttrs.type ?? 'text').toLowerCase()
      if (!inputAttrs.name || type === 'submit' || type === 'button') continue
      if (type === 'password') passwordFields.push(inputAttrs.name)
      fields[inputAttrs.name] = inputAttrs.value ?? ''
    }
    const buttons = [...body.matchAll(/<button\b([^>]*)>([\s\S]*?)<\/button>/gi)].map((button) => {
      const buttonAttrs = attributes(button[1] ?? '')
      const text = decodeEntities((button[2] ?? '').replace(/<[^>]*>/g, '').trim())
      return { name: buttonAttrs.name, value: buttonAttrs.value, text }
    })
    forms.push({
      id: attrs.id,
      action: new URL(attrs.action ?? '', pageUrl).href,
      method: (attrs.method ?? 'get').toUpperCase() === 'POST' ? 'POST' : 'GET',
      fields,
      buttons,
      passwordFields,
    })
  }
  return forms
}

/** The end-session form of the broker's answer to POST /auth/logout (a 200 page that posts it on). */
export async function endSessionFormOf(response: Response, pageUrl: string): Promise<HtmlForm> {
  const form = parseForms(await response.text(), pageUrl).find((f) => f.id === 'end-session')
  if (!form) throw new Error(`no end-session form in the logout answer (${response.status})`)
  return form
}
