import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
}

export interface SelfTime {
  label: string
  share: number
}

function shortUrl(url: string): string {
  const path = url.replace(/^file:\/\//, '')
  const nm = path.lastIndexOf('node_modules/')
  if (nm >= 0) return path.slice(nm + 'node_modules/'.length)
  const src = path.search(/\/(src|bench|test|demo)\//)
  if (src >= 0) return path.slice(src + 1)
  return path || '(native)'
}

/** Where a frame lives: an npm package, a project folder, node internals or native/GC. */
function area(url: string): string {
  const path = url.replace(/^file:\/\//, '')
  const nm = path.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const rest = path.slice(nm + 'node_modules/'.length).split('/')
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? path)
  }
  const own = /\/(src|bench)\/([^/]+)/.exec(path)
  if (own) return `${own[1]}/${own[2]}`
  if (path.startsWith('node:')) return 'node internals'
  return '(native)'
}

const isIdle = (n: ProfileNode) => n.callFrame.functionName === '(idle)'

/**
 * Top self-time functions and areas of a V8 .cpuprofile, as shares of the busy samples
 * (idle excluded), plus the busy share of the whole window.
 */
export function summariseProfile(file: string, top = 15) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const all = profile.nodes.reduce((sum, n) => sum + (n.hitCount ?? 0), 0) || 1
  const idle = profile.nodes.filter(isIdle).reduce((sum, n) => sum + (n.hitCount ?? 0), 0)
  const total = all - idle || 1
  const byFunction = new Map<string, number>()
  const byArea = new Map<string, number>()
  const byOwner = new Map<string, number>()
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  /** The nearest frame up the stack that is project code or an npm package. */
  const owner = (node: ProfileNode): string => {
    for (let n: ProfileNode | undefined = node; n; n = nodes.get(parent.get(n.id) ?? -1)) {
      const a = n.callFrame.url ? area(n.callFrame.url) : ''
      if (a && a !== 'node internals' && a !== '(native)') return a
    }
    const name = node.callFrame.functionName
    return name.startsWith('(') ? name : 'node internals (no package on the stack)'
  }
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0
    if (!hits || isIdle(node)) continue
    const { functionName, url, lineNumber } = node.callFrame
    const label = `${functionName || '(anonymous)'} ${url ? `${shortUrl(url)}:${lineNumber + 1}` : ''}`
    byFunction.set(label.trim(), (byFunction.get(label.trim()) ?? 0) + hits)
    const a = url ? area(url) : functionName.startsWith('(') ? functionName : '(native)'
    byArea.set(a, (byArea.get(a) ?? 0) + hits)
    const o = owner(node)
    byOwner.set(o, (byOwner.get(o) ?? 0) + hits)
  }
  const sorted = (m: Map<string, number>): SelfTime[] =>
    [...m.entries()]
      .sort((x, y) => y[1] - x[1])
      .slice(0, top)
      .map(([label, hits]) => ({ label, share: hits / total }))
  return {
    seconds: (profile.endTime - profile.startTime) / 1e6,
    busy: total / all,
    functions: sorted(byFunction),
    areas: sorted(byArea),
    /** Self time charged to the nearest package or project folder on the stack. */
    owners: sorted(byOwner),
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')) {
  const file = process.argv[2]
  if (file) {
    const summary = summariseProfile(file, Number(process.argv[3] ?? 25))
    console.log(
      `${summary.seconds.toFixed(1)} s, busy ${(summary.busy * 100).toFixed(0)}%; shares of busy samples:`,
    )
    for (const f of summary.functions)
      console.log(`${(f.share * 100).toFixed(1).padStart(5)}%  ${f.label}`)
    console.log('-- by owner (nearest package or project folder on the stack)')
    for (const o of summary.owners)
      console.log(`${(o.share * 100).toFixed(1).padStart(5)}%  ${o.label}`)
    console.log('-- by area')
    for (const a of summary.areas)
      console.log(`${(a.share * 100).toFixed(1).padStart(5)}%  ${a.label}`)
  }
}
