import { Writable } from 'node:stream';

/**
 * Writes into a child's stdin while the child reads it, then swallows the rest. A tool that stops
 * early (age on a damaged chunk) closes its stdin; Node would then fail the whole stream with a
 * bare EPIPE and stop reading the object, so the SHA-256 of the stored bytes would never be known.
 * Swallowing instead lets the object be read to its end, so its hash is the verdict.
 */
export class FeedSink extends Writable {
  private stdinGone = false;
  private waiting: (() => void) | undefined;

  constructor(private readonly stdin: Writable) {
    super();
    const stop = () => {
      this.stdinGone = true;
      this.release();
    };
    // EPIPE / ECONNRESET on a child's stdin only say that the child stopped reading; the child's own
    // exit tells why, and that is what gets reported.
    stdin.on('error', stop);
    stdin.on('close', stop);
    stdin.on('drain', () => this.release());
  }

  /** True once the child stopped taking input before the object ended. */
  get stoppedEarly(): boolean {
    return this.stdinGone;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    if (this.stdinGone) {
      done();
      return;
    }
    if (this.stdin.write(chunk)) {
      done();
      return;
    }
    this.waiting = done;
  }

  override _final(done: (error?: Error | null) => void): void {
    if (!this.stdinGone) this.stdin.end();
    done();
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    // A stream that failed (a checksum verdict, a cancel) must not look complete to the child:
    // destroying stdin without end() leaves age without its final chunk, so it refuses. After a
    // clean finish (autoDestroy) stdin may still be flushing its last chunks: leave it to end.
    if (error && !this.stdinGone) this.stdin.destroy();
    this.release();
    done(error);
  }

  private release(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
  }
}
