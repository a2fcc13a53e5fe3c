import { execFileSync, spawnSync } from 'node:child_process'

/** True when `binary` is on PATH. */
export function onPath(binary: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status === 0
}

/**
 * Installs a Debian package when missing and we may (root); otherwise fails with the
 * one command to run. Same pattern as test/support/system-packages.ts.
 */
export function ensureDebianPackage(pkg: string, binary = pkg): void {
  if (onPath(binary)) return
  if (process.getuid?.() !== 0) {
    throw new Error(
      `${binary} is missing: install it with "sudo apt-get install -y ${pkg}" (Debian/Ubuntu) and run npm run bench again`,
    )
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  execFileSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'], env })
  execFileSync('apt-get', ['install', '-y', pkg], { stdio: ['ignore', 'ignore', 'inherit'], env })
  if (!onPath(binary)) throw new Error(`${binary} is still missing after apt-get install -y ${pkg}`)
}

export function ensureWrk(): void {
  ensureDebianPackage('wrk')
}
