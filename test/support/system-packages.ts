import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

let aptUpdated = false

function onPath(binary: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status === 0
}

/**
 * Installs a Debian package when we may (root, as in CI containers); otherwise fails
 * with one line that says exactly what to run.
 */
function ensurePackage(pkg: string, present: () => boolean): void {
  if (present()) return
  if (process.getuid?.() !== 0) {
    throw new Error(
      `${pkg} is missing: install it with "sudo apt-get install -y ${pkg}" (Debian/Ubuntu) and run npm test again`,
    )
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  if (!aptUpdated) {
    execFileSync('apt-get', ['update'], { stdio: 'inherit', env })
    aptUpdated = true
  }
  execFileSync('apt-get', ['install', '-y', pkg], { stdio: 'inherit', env })
  if (!present()) throw new Error(`${pkg} is still missing after apt-get install -y ${pkg}`)
}

export function ensureRedisServer(): void {
  ensurePackage('redis-server', () => onPath('redis-server'))
}

export const CHROMIUM_PATH = '/usr/bin/chromium'

export function ensureChromium(): string {
  ensurePackage('chromium', () => existsSync(CHROMIUM_PATH))
  return CHROMIUM_PATH
}
