import { defineConfig } from '@playwright/test'
import { CHROMIUM_PATH } from './test/support/system-packages.js'

/**
 * The end-to-end suite: Debian's Chromium (Playwright cannot download its own browsers
 * here) against the web demo, the broker, the dev provider and the demo API, all started
 * in the worker (e2e/support/stack.ts). One worker: the scenarios share that stack.
 *
 * `--headless` comes from `headless: true` (Playwright adds the switch itself), so
 * `--headed` can turn it off for debugging; every other switch is listed here.
 */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Distinct sites on loopback: app.test (broker), idp.test, api.test, evil.test.
  '--host-resolver-rules=MAP *.test 127.0.0.1',
]

export default defineConfig({
  testDir: 'e2e',
  testMatch: '**/*.spec.ts',
  outputDir: 'e2e/artifacts',
  globalSetup: './e2e/global-setup.ts',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  forbidOnly: Boolean(process.env.CI),
  reporter: [['list']],
  timeout: 30_000,
  globalTimeout: 180_000,
  expect: { timeout: 10_000 },
  use: {
    browserName: 'chromium',
    headless: true,
    // The broker's certificate is a throwaway self-signed one made at setup.
    ignoreHTTPSErrors: true,
    launchOptions: { executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS },
    actionTimeout: 10_000,
    navigationTimeout: 15_000,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
  },
})
