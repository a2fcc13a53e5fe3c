import { runSessionsCli } from './sessions-cli.js'

// Operator entry: `npm run sessions -- list alice` (or `node dist/cli/sessions.js …` when built).
process.exitCode = await runSessionsCli(process.argv.slice(2), process.env, {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
})
