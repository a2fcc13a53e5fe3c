import { type DestinationStream, type Logger, pino } from 'pino'

/** Paths pino replaces with [redacted] wherever they appear in a log object. */
export const REDACT_PATHS = [
  '*.access_token',
  '*.refresh_token',
  '*.id_token',
  '*.accessToken',
  '*.refreshToken',
  '*.idToken',
  '*.code',
  '*.code_verifier',
  '*.codeVerifier',
  '*.client_secret',
  '*.clientSecret',
  '*.cookie',
  '*.authorization',
  '*.password',
  '*.secret',
  '*.cookieSecrets',
  '*.tokenEncryptionKeys',
  '*.logout_token',
  '*.logoutToken',
  '*.id_token_hint',
  '*.idTokenHint',
  'tokens',
  'headers.cookie',
  'headers.authorization',
]

export function createLogger(level = 'info', destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'session-broker' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  )
}

export type { Logger }
