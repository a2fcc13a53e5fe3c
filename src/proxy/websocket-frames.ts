import { randomBytes } from 'node:crypto'

/**
 * The close codes the broker sends on a proxied WebSocket (RFC 6455 §7.4). 4000-4999 are for
 * applications (§7.4.2); 4401 mirrors the HTTP 401 an API call gets once the session is gone.
 */
export const CLOSE_CODES = {
  /** The session ended: logout, sign out everywhere, back-channel logout, revocation, expiry. */
  session_ended: { code: 4401, reason: 'session ended' },
  /** The session could not be re-checked (the store did not answer): reconnect later. */
  unverified: { code: 1013, reason: 'try again later' },
  /** The broker is shutting down. */
  going_away: { code: 1001, reason: 'going away' },
} as const

export type CloseReason = keyof typeof CLOSE_CODES

/**
 * A close frame (RFC 6455 §5.5.1): FIN and opcode 0x8, a two-byte code and a short UTF-8
 * reason. Unmasked toward the browser (a server's frames are never masked, §5.1); masked with
 * a fresh key toward the upstream, where the broker is the client.
 */
export function closeFrame(why: CloseReason, masked: boolean): Buffer {
  const { code, reason } = CLOSE_CODES[why]
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason))
  payload.writeUInt16BE(code, 0)
  payload.write(reason, 2)
  if (!masked) return Buffer.concat([Buffer.from([0x88, payload.length]), payload])
  const key = randomBytes(4)
  for (let i = 0; i < payload.length; i++)
    payload[i] = (payload[i] as number) ^ (key[i % 4] as number)
  return Buffer.concat([Buffer.from([0x88, 0x80 | payload.length]), key, payload])
}

/** Larger than this, a 64-bit payload length cannot be counted exactly in a double. */
const MAX_TRACKED_LENGTH = Number.MAX_SAFE_INTEGER

/**
 * Follows the frames of one direction of a WebSocket without buffering or decoding them: it
 * reads only each frame's header (2 to 14 bytes, RFC 6455 §5.2) and counts the payload bytes
 * past it. The broker must know where a frame ends to put its own close frame between two
 * frames; a close frame inside another frame's payload would corrupt the stream. Control frames
 * may come between the fragments of a message (§5.4), so frame boundaries are enough.
 */
export class FrameBoundary {
  readonly #header = Buffer.alloc(14)
  #headerHave = 0
  #payloadLeft = 0
  /** A length this tracker cannot count: no boundary is ever claimed again. */
  #lost = false

  /** Between two frames: a frame may be inserted here. */
  get atBoundary(): boolean {
    return !this.#lost && this.#headerHave === 0 && this.#payloadLeft === 0
  }

  /**
   * Reads `chunk` (the next bytes of the stream) and returns how many of them were read:
   * all of them, or with `stopAtBoundary`, only up to the end of the frame in progress (0
   * when already between frames), so the caller can forward that much and then insert.
   */
  advance(chunk: Buffer, stopAtBoundary = false): number {
    let at = 0
    while (at < chunk.length) {
      if (stopAtBoundary && this.atBoundary) return at
      if (this.#lost) return chunk.length
      if (this.#payloadLeft > 0) {
        const take = Math.min(this.#payloadLeft, chunk.length - at)
        this.#payloadLeft -= take
        at += take
        continue
      }
      this.#header[this.#headerHave++] = chunk[at++] as number
      this.#readHeader()
    }
    return at
  }

  /** Once the header is complete, its payload length becomes the bytes left of this frame. */
  #readHeader(): void {
    const have = this.#headerHave
    if (have < 2) return
    const second = this.#header[1] as number
    const masked = (second & 0x80) !== 0
    const short = second & 0x7f
    const lengthBytes = short === 126 ? 2 : short === 127 ? 8 : 0
    const size = 2 + lengthBytes + (masked ? 4 : 0)
    if (have < size) return
    let length = short
    if (lengthBytes === 2) length = this.#header.readUInt16BE(2)
    if (lengthBytes === 8) {
      const high = this.#header.readUInt32BE(2)
      length = high * 2 ** 32 + this.#header.readUInt32BE(6)
      if (length > MAX_TRACKED_LENGTH) this.#lost = true
    }
    this.#headerHave = 0
    this.#payloadLeft = length
  }
}
