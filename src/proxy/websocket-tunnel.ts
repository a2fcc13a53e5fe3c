import type { Duplex } from 'node:stream'
import type { LiveExchange } from '../session/live-exchanges.js'
import { type CloseReason, closeFrame, FrameBoundary } from './websocket-frames.js'

/** After the broker's close frame, how long either side may take to finish before it is cut. */
const CLOSE_GRACE_MS = 1000

/**
 * A proxied WebSocket once both handshakes are done: bytes pass both ways untouched (frames,
 * masks, compressed payloads), with backpressure each way (a side that does not read pauses
 * the other). The broker reads only frame headers, to know where frames end, so that `end`
 * can close the socket itself: a close frame with the reason's code (CLOSE_CODES) to the
 * browser, put between two frames (after the frame in progress, if any), and one to the
 * upstream where possible (else its connection is just ended). Whatever either side sends
 * after that is dropped.
 */
export class WebSocketTunnel implements LiveExchange {
  readonly #browser: Duplex
  readonly #upstream: Duplex
  readonly #toBrowser = new FrameBoundary()
  readonly #toUpstream = new FrameBoundary()
  readonly #onClosed: () => void
  #ending: CloseReason | undefined
  /** The browser's close frame waits for the frame in progress toward it to end. */
  #closeToBrowserPending = false
  #closed = false
  #cutting = false

  constructor(browser: Duplex, upstream: Duplex, onClosed: () => void) {
    this.#browser = browser
    this.#upstream = upstream
    this.#onClosed = onClosed
  }

  /** Starts relaying; each head is what its side sent right after its handshake. */
  start(browserHead: Buffer, upstreamHead: Buffer): void {
    const browser = this.#browser
    const upstream = this.#upstream
    for (const socket of [browser, upstream]) {
      ;(socket as Duplex & { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true)
      socket.on('error', () => socket.destroy())
    }
    browser.on('data', (chunk: Buffer) => this.#fromBrowser(chunk))
    upstream.on('data', (chunk: Buffer) => this.#fromUpstream(chunk))
    browser.on('drain', () => upstream.resume())
    upstream.on('drain', () => browser.resume())
    // A side that finished sending (the close handshake's last step) finishes the other; not
    // while the broker's own close frame still waits to go to the browser.
    browser.on('end', () => {
      upstream.end()
      this.#cutAfterGrace()
    })
    const finishBrowser = () => {
      if (!this.#closeToBrowserPending) browser.end()
    }
    upstream.on('end', finishBrowser)
    upstream.on('close', () => {
      finishBrowser()
      this.#cutAfterGrace()
    })
    browser.on('close', () => {
      upstream.destroy()
      if (this.#closed) return
      this.#closed = true
      this.#onClosed()
    })
    if (upstreamHead.length > 0) this.#fromUpstream(upstreamHead)
    if (browserHead.length > 0) this.#fromBrowser(browserHead)
  }

  end(why: CloseReason): void {
    if (this.#ending || this.#closed) return
    this.#ending = why
    const upstream = this.#upstream
    if (this.#toUpstream.atBoundary && !upstream.writableEnded) {
      upstream.end(closeFrame(why, true))
    } else upstream.end()
    // Reading on: the browser's answer to the close frame is read and dropped, and the upstream
    // may still owe the rest of a frame the browser is in the middle of.
    this.#browser.resume()
    upstream.resume()
    if (this.#toBrowser.atBoundary) this.#closeBrowser(why)
    else this.#closeToBrowserPending = true
    this.#cutAfterGrace()
  }

  #fromBrowser(chunk: Buffer): void {
    if (this.#ending) return
    this.#toUpstream.advance(chunk)
    if (!this.#upstream.write(chunk)) this.#browser.pause()
  }

  #fromUpstream(chunk: Buffer): void {
    const why = this.#ending
    if (!why) {
      this.#toBrowser.advance(chunk)
      if (!this.#browser.write(chunk)) this.#upstream.pause()
      return
    }
    if (!this.#closeToBrowserPending) return
    const rest = this.#toBrowser.advance(chunk, true)
    if (rest > 0) this.#browser.write(chunk.subarray(0, rest))
    if (this.#toBrowser.atBoundary) this.#closeBrowser(why)
  }

  #closeBrowser(why: CloseReason): void {
    this.#closeToBrowserPending = false
    if (!this.#browser.writableEnded) this.#browser.end(closeFrame(why, false))
  }

  /** Both sockets are destroyed if they have not closed within CLOSE_GRACE_MS. */
  #cutAfterGrace(): void {
    if (this.#cutting) return
    this.#cutting = true
    setTimeout(() => {
      this.#browser.destroy()
      this.#upstream.destroy()
    }, CLOSE_GRACE_MS).unref()
  }
}
