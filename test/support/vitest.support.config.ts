import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

// Runs the support self-test on its own, without the project's vitest.config.ts.
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['test/support/support.test.ts', 'test/support/cookie-jar.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})
