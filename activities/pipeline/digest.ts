import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';

export interface Digest {
  sha256: string;
  size: number;
}

/** Size and SHA-256 of a file, read through one reused buffer: no garbage per chunk, whatever its size. */
export async function digestFile(path: string): Promise<Digest> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(1024 * 1024);
  const file = await open(path, 'r');
  let size = 0;
  try {
    for (;;) {
      const { bytesRead } = await file.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      size += bytesRead;
    }
  } finally {
    await file.close();
  }
  return { sha256: hash.digest('hex'), size };
}

/**
 * Counts and hashes what passes through. The stream does not end until `gate` resolves: on backup
 * the gate is "every tool exited 0", so a dump that failed half-way can never complete an upload.
 */
export class DigestStream extends Transform {
  private readonly hash = createHash('sha256');
  private bytes = 0;

  constructor(private readonly gate: Promise<unknown> = Promise.resolve()) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.gate.then(() => done(), (error: Error) => done(error));
  }

  get size(): number {
    return this.bytes;
  }

  /** Only meaningful once the stream has ended. */
  digest(): Digest {
    return { sha256: this.hash.copy().digest('hex'), size: this.bytes };
  }
}

/**
 * Passes bytes through but holds back the last chunk until the whole stream's SHA-256 and size
 * match what the manifest says. A consumer that verifies its own input (age checks that the final
 * STREAM chunk is present) therefore never sees a complete stream of tampered bytes.
 */
export class VerifyingStream extends Transform {
  private readonly hash: Hash;
  private bytes: number;
  private held: Buffer | undefined;

  /** `start`: the hash of bytes that came before this stream (a resumed copy re-reads its stored prefix). */
  constructor(private readonly expected: Digest, private readonly onMismatch: (actual: Digest) => Error, start?: { hash: Hash; bytes: number }) {
    super();
    this.hash = start?.hash ?? createHash('sha256');
    this.bytes = start?.bytes ?? 0;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    // Longer than the manifest says is already a verdict: no need to read an endless object.
    if (this.bytes > this.expected.size) {
      done(this.onMismatch({ sha256: '', size: this.bytes }));
      return;
    }
    const previous = this.held;
    this.held = chunk;
    done(null, previous);
  }

  override _flush(done: TransformCallback): void {
    const actual = { sha256: this.hash.digest('hex'), size: this.bytes };
    if (actual.sha256 !== this.expected.sha256 || actual.size !== this.expected.size) {
      done(this.onMismatch(actual));
      return;
    }
    done(null, this.held);
  }
}

export function digestOf(data: Buffer): Digest {
  return { sha256: createHash('sha256').update(data).digest('hex'), size: data.length };
}
