import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LifeboatError } from '../../lib/errors';
import { childEnv } from '../../lib/child-env';
import { decodeSteps } from './encode';
import { stepFailure } from './processes';
import { stopSignal } from '../progress';

/**
 * For each line "FROM<tab>INTO" it reads: `age -d | zstd -d` of the encrypted file FROM into the
 * file INTO, then a line with both exit codes. One bash does this for every file, so the worker forks
 * nothing per file: forking the worker's large Node process twice per 16 MiB WAL segment, through
 * execa, cost it more CPU than the hashing it does, taken from the PostgreSQL replaying beside it.
 */
const LOOP = [
  'slot=$1; identity=$2',
  "while IFS=$'\\t' read -r from into; do",
  '  [ -r "$from" ] || { echo unreadable; continue; }',
  '  age --decrypt -i "$identity" 2> "$slot/age.err" < "$from" | zstd -d -q -c 2> "$slot/zstd.err" > "$into"',
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
  private readonly lines: Interface;
  private readonly answers: AsyncIterator<string>;
  private exited: string | undefined;
  private busy = false;

  constructor(private readonly identityFile: string) {
    this.slot = mkdtempSync(join(tmpdir(), 'lifeboat-decode-'));
    // In the worker's process group, so its age and zstd count as the worker's (the benchmark's sampler, the OOM killer).
    this.child = spawn('bash', ['-c', LOOP, 'lifeboat-decoder', this.slot, identityFile], { stdio: ['pipe', 'pipe', 'inherit'], env: childEnv() });
    this.child.on('error', (error) => {
      this.exited = `bash could not be started: ${error.message}`;
    });
    this.child.on('exit', (code, signal) => {
      this.exited ??= `it exited (${signal ?? `code ${code}`})`;
    });
    this.lines = createInterface({ input: this.child.stdout! });
    this.answers = this.lines[Symbol.asyncIterator]();
    // A stalled or cancelled activity stops the loop, as startPipeline's tools: a file that never ends (a hung mount) then ends the wait.
    this.stop = stopSignal();
    this.stop?.addEventListener('abort', this.onStop);
  }

  private readonly stop: AbortSignal | undefined;
  private readonly onStop = () => this.close();

  /**
   * Decodes `encrypted` into `into` (created or truncated): a stream goes to a file in the slot
   * first; a file (a local region's object) is read by age itself. One file at a time per decoder.
   */
  async decode(encrypted: Readable | { file: string }, into: string, what: string): Promise<void> {
    if (this.busy) throw new Error('FileDecoder.decode: one file at a time');
    const from = 'file' in encrypted ? encrypted.file : join(this.slot, 'in');
    for (const path of [from, into]) {
      if (/[\t\n]/.test(path)) throw new LifeboatError('Config', `cannot decode ${JSON.stringify(path)}: the path holds a tab or a line break`, 'use a path without one');
    }
    if (this.exited !== undefined) throw this.gone(what);
    this.busy = true;
    try {
      if (!('file' in encrypted)) await pipeline(encrypted, createWriteStream(from));
      if (this.exited || !this.child.stdin!.writable) throw this.gone(what);
      this.child.stdin!.write(`${from}\t${into}\n`);
      const answer = await this.answers.next();
      if (answer.done) throw this.gone(what);
      if (answer.value === 'unreadable') throw new LifeboatError('Storage', `${what}: cannot read ${from}`, 'check the region\'s storage (a file removed or made unreadable meanwhile) and retry');
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
    this.stop?.removeEventListener('abort', this.onStop);
    const running = this.exited === undefined;
    this.exited ??= 'it was stopped';
    // A file in progress is finite: its age and zstd end on their own once the loop is gone.
    if (running) this.child.kill('SIGTERM');
    // Its answers end now, also for a file in progress (a destroyed stream ends no reader by itself).
    this.lines.close();
    this.child.stdin?.destroy();
    this.child.stdout?.destroy();
    rmSync(this.slot, { recursive: true, force: true });
  }
}
