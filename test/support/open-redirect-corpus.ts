/**
 * Open-redirect payloads for return targets (returnTo, post-logout targets): schemes, scheme-
 * relative and backslash forms, tabs and newlines browsers strip, encoded and double-encoded
 * separators, userinfo tricks, dot segments and unicode look-alikes of `/` and `.`, each
 * aimed at several hosts. Built from templates so every trick meets every host form.
 */
const HOSTS = [
  'evil.example',
  'evil.example:443',
  '127.0.0.1:1',
  '[::1]',
  'user:pass@evil.example',
  'evil.example%00.app.test',
]

const TEMPLATES: Array<(host: string) => string> = [
  (h) => `https://${h}`,
  (h) => `http://${h}/path`,
  (h) => `HTTPS://${h}`,
  (h) => `https:${h}`,
  (h) => `https:/${h}`,
  (h) => `https:\\\\${h}`,
  (h) => `//${h}`,
  (h) => `///${h}`,
  (h) => `////${h}`,
  (h) => `/\\${h}`,
  (h) => `\\\\${h}`,
  (h) => `\\/${h}`,
  (h) => `/\\/${h}`,
  (h) => `/%5c${h}`,
  (h) => `/%5C%5C${h}`,
  (h) => `/%2f%2f${h}`,
  (h) => `/%2F%2F${h}`,
  (h) => `%2f%2f${h}`,
  (h) => `/%252f%252f${h}`,
  (h) => `/%255c${h}`,
  (h) => `/%09/${h}`,
  (h) => `/%0a/${h}`,
  (h) => `/%0d/${h}`,
  (h) => `/\t/${h}`,
  (h) => `/\n/${h}`,
  (h) => `/\r\n/${h}`,
  (h) => ` //${h}`,
  (h) => `\u0000//${h}`,
  (h) => `/.//${h}`,
  (h) => `/..//${h}`,
  (h) => `/%2e%2e//${h}`,
  (h) => `/\uff0f\uff0f${h}`,
  (h) => `\uff0f\uff0f${h}`,
  (h) => `/\u2215\u2215${h}`,
  (h) => `/\u2044/${h}`,
  (h) => `%E2%88%95%E2%88%95${h}`,
  (h) => `/%EF%BC%8F%EF%BC%8F${h}`,
]

const SCHEMES = [
  'javascript:alert(1)',
  'JaVaScRiPt:alert(1)',
  'java\tscript:alert(1)',
  'java%09script:alert(1)',
  ' javascript:alert(1)',
  'javascript://%0aalert(1)',
  '/javascript:alert(1)',
  'data:text/html,<script>alert(1)</script>',
  'vbscript:msgbox(1)',
  'file:///etc/passwd',
  'blob:https://evil.example/x',
  'about:blank',
  '',
  '.',
  'relative/path',
  '?q=1',
  '#frag',
  '%2F',
]

export const OPEN_REDIRECT_PAYLOADS: readonly string[] = [
  ...new Set([...HOSTS.flatMap((host) => TEMPLATES.map((t) => t(host))), ...SCHEMES]),
]
