import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { FeedSink } from '../activities/pipeline/feed';

/** A child's stdin that takes each chunk only after a delay, as a busy tool's pipe does. */
function slowStdin(received: Buffer[], delayMs: number): Writable {
  return new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _encoding, done) {
      setTimeout(() => { received.push(chunk); done(); }, delayMs);
    },
  });
}

describe('FeedSink', { timeout: 10_000 }, () => {
  it('lets a slow stdin flush every byte after the source ended, then ends it', async () => {
    const data = randomBytes(256 * 1024);
    const received: Buffer[] = [];
    const stdin = slowStdin(received, 2);
    const flushed = new Promise((resolve) => stdin.on('finish', resolve));
    await pipeline(Readable.from([data.subarray(0, 100_000), data.subarray(100_000, 200_000), data.subarray(200_000)]), new FeedSink(stdin));
    await flushed;
    expect(Buffer.concat(received).equals(data)).toBe(true);
    expect(stdin.destroyed || stdin.writableFinished).toBe(true);
  });

  it('swallows what comes after the child stopped reading, so the source is read to its end', async () => {
    const received: Buffer[] = [];
    const stdin = slowStdin(received, 0);
    const sink = new FeedSink(stdin);
    let read = 0;
    const source = Readable.from((async function* () {
      for (let i = 0; i < 64; i += 1) {
        if (i === 4) stdin.destroy(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
        read += 1;
        yield randomBytes(4096);
        await sleep(0);
      }
    })());
    await pipeline(source, sink);
    expect(read).toBe(64);
    expect(sink.stoppedEarly).toBe(true);
  });

  it('cuts stdin off without an end when the source fails, so the child never sees a complete stream', async () => {
    const stdin = slowStdin([], 0);
    let ended = false;
    stdin.on('finish', () => { ended = true; });
    const failing = new Readable({ read() { this.destroy(new Error('checksum verdict')); } });
    await expect(pipeline(failing, new FeedSink(stdin))).rejects.toThrow('checksum verdict');
    expect(stdin.destroyed).toBe(true);
    expect(ended).toBe(false);
  });
});
