import { createHash, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto'

/** 256 bits from the CSPRNG, base64url: session ids, transaction bindings, lock tokens. */
export function randomId(bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}

const POOL_BYTES = 4096
const pool = Buffer.alloc(POOL_BYTES)
let poolOffset = POOL_BYTES

/**
 * A short random id for correlation (request ids), not a secret: CSPRNG bytes drawn from a
 * 4 KiB pool refilled in one call, instead of one CSPRNG call per request on the hot path.
 */
export function correlationId(bytes = 9): string {
  if (poolOffset + bytes > POOL_BYTES) {
    randomFillSync(pool)
    poolOffset = 0
  }
  const id = pool.toString('base64url', poolOffset, poolOffset + bytes)
  poolOffset += bytes
  return id
}

export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('base64url')
}

export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}
