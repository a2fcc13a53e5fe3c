/**
 * Runs a script's main: its result is the exit code, a throw is printed and exits 1, and
 * `cleanup` (stopping what the script started) runs either way.
 */
export function runMain(main: () => Promise<number>, cleanup: () => Promise<void>): void {
  main()
    .then(
      (code) => {
        process.exitCode = code
      },
      (error: unknown) => {
        console.error(error)
        process.exitCode = 1
      },
    )
    .finally(cleanup)
}
