import { test as base } from '@playwright/test'
import { type ShiftableClock, type Stack, startStack } from './stack.js'

export { expect } from '@playwright/test'

interface TestFixtures {
  /** The brokers' clock; any shift a test makes is undone after it. */
  clock: ShiftableClock
}

interface WorkerFixtures {
  stack: Stack
}

/** One stack per worker (the config runs one worker), shared by every scenario. */
export const test = base.extend<TestFixtures, WorkerFixtures>({
  stack: [
    // biome-ignore lint/correctness/noEmptyPattern: Playwright reads a fixture's dependencies from this pattern
    async ({}, use) => {
      const stack = await startStack()
      await use(stack)
      await stack.stop()
    },
    { scope: 'worker', timeout: 60_000 },
  ],
  clock: [
    async ({ stack }, use) => {
      stack.clock.reset()
      await use(stack.clock)
      stack.clock.reset()
    },
    { auto: true },
  ],
})
