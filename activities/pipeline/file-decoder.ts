import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LifeboatError } from '../../lib/errors';
import { childEnv } from '../../lib/child-env';
import { decodeSteps } from './encode';
import { stepFailure } from './processes';

/**
 * For each file it is handed: `age -d | zstd -d` of the encrypted file in its slot into the path
 * named, then a line with both exit codes. One bash does this for every file, so the worker forks
 * nothing per file: forking the worker's large Node process twice per 16 MiB WAL segment, through
 * execa, cost it more CPU than the hashing it does, taken from the PostgreSQL replaying beside it.
 */
const LOOP = [
  'slot=$1; identity=$2',
  'while IFS= read -r into; do',
  '  age --decrypt -i "$identity" < "$slot/in" 2> "$slot/age.err" | zstd -d -q -c > "$into" 2> "$slot/zstd.err"',
  '  codes=("${PIPESTATUS[@]}")',
  '  echo "${codes[0]} ${codes[1]}"',
  'done',
].join('\n');

/**
 * A long-lived decoder for many small encrypted objects one after another (archived WAL): the
 * encrypted object is written to a file of its own (the page cache's), then decrypted and
 * decompressed into `into` by the loop above. Errors are the pipeline's own (BadKey,
 * ChecksumMismatch, MissingTool), named after the object.
 */
export class FileDecoder {
  private readonly slot: string;
  private readonly child: ChildProcess;
  private readonly answers: AsyncIterator<string>;
  private exited: string | undefined;
  private busy = false;
  private closed = false;

  constructor(private readonly identityFile: string) {
    this.slot = mkdtempSync(join(tmpdir(), 'lifeboat-decode-'));
    // Its own process group: close() stops the loop and whichever age and zstd it is running.
    this.child = spawn('bash', ['-c', LOOP, 'lifeboat-decoder', this.slot, identityFile], { stdio: ['pipe', 'pipe', 'inherit'], env: childEnv(), detached: true });
    this.child.on('error', (error) => {
      this.exited = `bash could not be started: ${error.message}`;
    });
    this.child.on('exit', (code, signal) => {
      this.exited ??= `it exited (${signal ?? `code ${code}`})`;
    });
    this.answers = createInterface({ input: this.child.stdout! })[Symbol.asyncIterator]();
  }

  /** Decodes `encrypted` into `into` (created or truncated). One file at a time per decoder. */
  async decode(encrypted: Readable, into: string, what: string): Promise<void> {
    if (this.busy) throw new Error('FileDecoder.decode: one file at a time');
    if (into.includes('\n')) throw new LifeboatError('Config', `cannot decode into ${JSON.stringify(into)}: the path holds a line break`, 'use a path without one');
    if (this.closed) throw this.gone(what);
    this.busy = true;
    try {
      await pipeline(encrypted, createWriteStream(join(this.slot, 'in')));
      if (this.exited || !this.child.stdin!.writable) throw this.gone(what);
      this.child.stdin!.write(`${into}\n`);
      const answer = await this.answers.next();
      if (answer.done) throw this.gone(what);
      const [ageCode, zstdCode] = answer.value.split(' ').map(Number) as [number, number];
      if (ageCode === 0 && zstdCode === 0) return;
      const [age, zstd] = decodeSteps(this.identityFile, what);
      // age's refusal explains zstd's; zstd failing alone is about what age let through.
      if (ageCode !== 0) throw stepFailure(age!, ageCode, this.stderr('age.err'));
      throw stepFailure(zstd!, zstdCode, this.stderr('zstd.err'));
    } finally {
      this.busy = false;
    }
  }

  private stderr(name: string): string {
    try {
      return readFileSync(join(this.slot, name), 'utf8');
    } catch {
      return '';
    }
  }

  private gone(what: string): LifeboatError {
    return new LifeboatError('ToolFailed', `decryption of ${what}: the decoding shell stopped: ${this.exited ?? 'its input closed'}`, 'check that bash, age and zstd run on this worker, and retry');
  }

  /** Stops the loop (and a file in progress) and removes its slot. */
  close(): void {
    const running = this.exited === undefined;
    this.closed = true;
    this.exited ??= 'it was stopped';
    if (running && this.child.pid !== undefined) {
      try {
        process.kill(-this.child.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
    this.child.stdin?.destroy();
    this.child.stdout?.destroy();
    rmSync(this.slot, { recursive: true, force: true });
  }
}
