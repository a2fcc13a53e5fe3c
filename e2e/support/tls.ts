import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { rootCertificates } from 'node:tls'
import { Agent, fetch as undiciFetch } from 'undici'

export interface ThrowawayCertificate {
  key: string
  cert: string
}

/**
 * A self-signed certificate for one host name, valid for a day, made fresh for every run in
 * a temp dir that is deleted at once (the PEMs stay in memory; no key is ever committed).
 * The broker needs TLS: on plain http Chromium refuses `Secure` and `__Host-` cookies for
 * any name but localhost. The browser context trusts it through `ignoreHTTPSErrors`.
 */
export function throwawayCertificate(hostname: string): ThrowawayCertificate {
  const dir = mkdtempSync(path.join(tmpdir(), 'bff-e2e-tls-'))
  try {
    const keyFile = path.join(dir, 'key.pem')
    const certFile = path.join(dir, 'cert.pem')
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        `/CN=${hostname}`,
        '-addext',
        `subjectAltName=DNS:${hostname}`,
        '-keyout',
        keyFile,
        '-out',
        certFile,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * fetch that also trusts these certificates (the e2e provider's throwaway one), for the
 * broker's provider calls and the demo API's JWKS fetch in this process: the test's way of
 * doing what NODE_EXTRA_CA_CERTS does for a deployment.
 */
export function trustingFetch(certificates: readonly string[]): typeof fetch {
  const dispatcher = new Agent({ connect: { ca: [...rootCertificates, ...certificates] } })
  return ((input: string | URL, init?: RequestInit) =>
    undiciFetch(input, { ...(init as object), dispatcher })) as unknown as typeof fetch
}
