import { type CliSettings, loadCliSettings } from '../config/cli-settings.js'
import { ConfigError } from '../config/config-error.js'
import { createRedisStores, type RedisStoreSet } from '../store/redis-stores.js'

export const USAGE = `usage: npm run sessions -- <command>
  list <sub> [--iss <issuer>]        the user's sessions: key prefix, created, last seen, expiry
  revoke <key-prefix>                end one session (at least 8 characters of its key)
  revoke-all <sub> [--iss <issuer>]  end every session of the user
The issuer defaults to OIDC_ISSUER; the store comes from REDIS_URL and REDIS_KEY_PREFIX.
Revoking ends broker sessions only; it does not revoke tokens at the provider.`

export const EXIT = { ok: 0, runtime: 1, usage: 2 } as const

/** Shown for each session; long enough to be unique in practice, short enough to type. */
const KEY_PREFIX_LENGTH = 12
const MIN_KEY_PREFIX_LENGTH = 8

export interface CliIo {
  out(line: string): void
  err(line: string): void
}

class UsageError extends Error {}

type Command =
  | { name: 'help' }
  | { name: 'list' | 'revoke-all'; sub: string; iss: string | undefined }
  | { name: 'revoke'; keyPrefix: string }

function parse(argv: readonly string[]): Command {
  const [name, ...rest] = argv
  if (name === undefined) throw new UsageError('missing command')
  if (name === 'help' || name === '--help' || name === '-h') return { name: 'help' }
  const positional: string[] = []
  let iss: string | undefined
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string
    if (arg === '--iss' && name !== 'revoke') {
      iss = rest[++i]
      if (!iss || !URL.canParse(iss)) throw new UsageError('--iss needs an issuer URL')
    } else if (arg.startsWith('--')) {
      throw new UsageError(`unknown option ${arg}`)
    } else {
      positional.push(arg)
    }
  }
  const [value, extra] = positional
  if (extra !== undefined) throw new UsageError(`unexpected argument ${extra}`)
  switch (name) {
    case 'list':
    case 'revoke-all':
      if (!value) throw new UsageError(`${name} needs a subject (sub)`)
      return { name, sub: value, iss }
    case 'revoke':
      if (!value || !new RegExp(`^[A-Za-z0-9_-]{${MIN_KEY_PREFIX_LENGTH},43}$`).test(value)) {
        throw new UsageError(
          `revoke needs a session key prefix of ${MIN_KEY_PREFIX_LENGTH}-43 base64url characters`,
        )
      }
      return { name, keyPrefix: value }
    default:
      throw new UsageError(`unknown command ${name}`)
  }
}

const iso = (ms: number) => new Date(ms).toISOString()

function issuerOf(command: { iss: string | undefined }, settings: CliSettings): string {
  const iss = command.iss ?? settings.issuer
  if (!iss) throw new UsageError('no issuer: pass --iss <issuer> or set OIDC_ISSUER')
  return iss
}

async function list(stores: RedisStoreSet, iss: string, sub: string, io: CliIo) {
  const keys = await stores.indexes.findSessions({ iss, sub })
  const rows: string[][] = []
  for (const key of keys) {
    const [session, ttl] = await Promise.all([
      stores.sessions.getSession(key),
      stores.sessions.sessionTtlMs(key),
    ])
    if (!session || ttl === null) continue
    rows.push([
      key.slice(0, KEY_PREFIX_LENGTH),
      iso(session.createdAt),
      iso(session.lastSeenAt),
      // Redis counts the TTL from its now; the operator's clock is the nearest to that.
      iso(Date.now() + ttl),
      iso(session.absoluteExpiresAt),
    ])
  }
  if (rows.length === 0) return io.out(`no sessions for ${sub} at ${iss}`)
  const header = ['KEY', 'CREATED', 'LAST SEEN', 'EXPIRES (IDLE)', 'ABSOLUTE EXPIRY']
  for (const row of [header, ...rows]) {
    io.out(
      row
        .map((cell, i) => (i === 0 ? cell.padEnd(KEY_PREFIX_LENGTH) : cell.padEnd(24)))
        .join('  ')
        .trimEnd(),
    )
  }
}

async function revoke(stores: RedisStoreSet, keyPrefix: string, io: CliIo): Promise<number> {
  const keys = await stores.sessions.sessionKeysStartingWith(keyPrefix)
  if (keys.length > 1) {
    io.err(`error: ${keys.length} sessions start with ${keyPrefix}; give more characters`)
    return EXIT.runtime
  }
  const deleted = await stores.sessions.deleteSessions(keys)
  const [first] = deleted
  if (!first) {
    io.err(`error: no session starts with ${keyPrefix}`)
    return EXIT.runtime
  }
  io.out(`revoked session ${first.key.slice(0, KEY_PREFIX_LENGTH)} of ${first.session.sub}`)
  return EXIT.ok
}

async function revokeAll(stores: RedisStoreSet, iss: string, sub: string, io: CliIo) {
  const keys = await stores.indexes.findSessions({ iss, sub })
  const deleted = await stores.sessions.deleteSessions(keys)
  io.out(`revoked ${deleted.length} session${deleted.length === 1 ? '' : 's'} of ${sub} at ${iss}`)
}

/** Runs one operator command; returns the exit code. Never prints a token. */
export async function runSessionsCli(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  io: CliIo,
): Promise<number> {
  let command: Command
  let settings: CliSettings
  try {
    command = parse(argv)
    if (command.name === 'help') {
      io.out(USAGE)
      return EXIT.ok
    }
    settings = loadCliSettings(env)
  } catch (error) {
    if (error instanceof UsageError) io.err(`error: ${error.message} (npm run sessions -- help)`)
    else if (error instanceof ConfigError) io.err(`config error: ${error.issues.join('; ')}`)
    else throw error
    return EXIT.usage
  }
  const stores = createRedisStores({
    url: settings.redisUrl,
    keyPrefix: settings.redisKeyPrefix,
  })
  try {
    await stores.ping()
    switch (command.name) {
      case 'list':
        await list(stores, issuerOf(command, settings), command.sub, io)
        return EXIT.ok
      case 'revoke-all':
        await revokeAll(stores, issuerOf(command, settings), command.sub, io)
        return EXIT.ok
      case 'revoke':
        return await revoke(stores, command.keyPrefix, io)
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`error: ${error.message} (npm run sessions -- help)`)
      return EXIT.usage
    }
    io.err(`error: ${error instanceof Error ? error.message : String(error)}`)
    return EXIT.runtime
  } finally {
    await stores.close()
  }
}
