import { Transform, type TransformCallback } from 'node:stream';

const MARK = 40;
const HOLD = MARK + 9; // the RDB's own end: the 0xFF opcode and an 8-byte CRC64, before the mark

/**
 * redis-cli 7.0 `--rdb -` copies the 40-character EOF mark of a diskless transfer to stdout after
 * the RDB's last byte (to a file it truncates it off again). Holds back the tail and drops the
 * mark when it is there: the RDB ends in 0xFF + checksum, the mark is 40 hex characters.
 */
export class RdbTrailerFilter extends Transform {
  private tail = Buffer.alloc(0);
  stripped = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const joined = Buffer.concat([this.tail, chunk]);
    const release = Math.max(0, joined.length - HOLD);
    this.tail = joined.subarray(release);
    done(null, release > 0 ? joined.subarray(0, release) : undefined);
  }

  override _flush(done: TransformCallback): void {
    const mark = this.tail.subarray(this.tail.length - MARK);
    if (this.tail.length === HOLD && this.tail[0] === 0xff && /^[0-9a-f]{40}$/i.test(mark.toString('latin1'))) {
      this.stripped = true;
      done(null, this.tail.subarray(0, HOLD - MARK));
      return;
    }
    done(null, this.tail);
  }
}
