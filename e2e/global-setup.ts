import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ensureChromium, ensureRedisServer } from '../test/support/system-packages.js'

const INDEX_HTML = fileURLToPath(new URL('../web-demo/dist/index.html', import.meta.url))

/**
 * Runs once before the workers start: Debian's Chromium and redis-server (apt-installed
 * when missing and root, else a one-line error naming the command), and the built SPA.
 */
export default function globalSetup(): void {
  ensureChromium()
  ensureRedisServer()
  if (!existsSync(INDEX_HTML)) {
    throw new Error(
      'web-demo/dist is not built: run "npm run test:e2e" (it builds it) or "npx vite build web-demo"',
    )
  }
}
