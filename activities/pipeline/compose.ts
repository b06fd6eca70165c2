import type { Readable, Writable } from 'node:stream';
import type { Snapshot } from '../sources/source';
import { LifeboatError } from '../../lib/errors';
import { lastLines, startPipeline, type RunningPipeline, type Step } from './processes';
import { scannedPipeline } from './scan-copy';

export interface SnapshotStream {
  /** The encrypted bytes to store (empty when the last tool writes to the descriptor it was given). */
  output: Readable;
  /** Every tool succeeded (with their warnings), validators included. */
  finished: Promise<string[]>;
  /** What each validator printed on stdout, once finished. */
  checks(): string[];
  /** Size of the raw (unencrypted) bytes, when they passed through Node or a scan. */
  raw(): { size: number } | undefined;
  kill(): void;
}

/**
 * producer → encode, as one chain of file descriptors when nothing needs the raw bytes, or with a
 * worker thread between them when only a tar scan reads them (scan-copy.ts); otherwise the raw
 * bytes come through Node's main thread once, to be filtered, scanned and copied to the validators.
 * `output`: a stream wrapping a descriptor (a storage driver's DescriptorWrite) that the last tool
 * writes its bytes to itself, so they never reach Node's main thread either.
 */
export async function snapshotStream(snapshot: Snapshot, encode: Step[], output: 'pipe' | Writable = 'pipe'): Promise<SnapshotStream> {
  const producer = snapshot.producer;
  if (!('start' in producer) && !snapshot.filter && !snapshot.validators?.length) {
    if (snapshot.tarScan) {
      const scanned = await scannedPipeline(producer, encode, snapshot.tarScan, output);
      const raw = () => {
        const size = scanned.rawSize();
        return size === undefined ? undefined : { size };
      };
      return { output: scanned.output, finished: scanned.finished, checks: () => [], raw, kill: scanned.kill };
    }
    const chain = startPipeline([producer, ...encode], 'ignore', output);
    return { output: chain.output, finished: chain.finished, checks: () => [], raw: () => undefined, kill: chain.kill };
  }
  // A producer in the worker (StreamProducer) hands its bytes to Node anyway.
  const source = 'start' in producer ? producer.start() : startPipeline([producer]);
  const encoder = startPipeline(encode, 'pipe', output);
  const validatorSteps = snapshot.validators ?? [];
  const validators = validatorSteps.map((step) => startPipeline([step], 'pipe'));
  const printed = validators.map(() => '');
  const all: Array<Pick<RunningPipeline, 'kill'>> = [source, encoder, ...validators];
  const kill = () => all.forEach((running) => running.kill());
  const filtered = snapshot.filter ? source.output.pipe(snapshot.filter) : source.output;
  filtered.on('error', kill);
  // Counted as they pass, not hashed: only the size is recorded, and a base backup is gigabytes of it.
  let size = 0;
  const tap = snapshot.tarScan;
  let tapError: unknown;
  filtered.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (!tap || tapError !== undefined) return;
    try {
      tap.push(chunk, 0, chunk.length);
    } catch (error) {
      tapError = error;
      kill();
    }
  });
  // pipe() waits for the slowest reader, so a validator can never fall behind and lose bytes.
  filtered.pipe(encoder.input!);
  for (const [index, validator] of validators.entries()) {
    filtered.pipe(validator.input!);
    validator.output.on('data', (chunk: Buffer) => { printed[index] += chunk.toString(); });
  }
  // A validator that rejects the bytes fails the backup with what it printed, not just its exit code.
  const judged = validators.map((validator, index) => validator.finished.catch((error: unknown) => {
    if (error instanceof LifeboatError && error.type === 'MissingTool') throw error;
    const classified = validatorSteps[index]!.classify?.((error as { stderr?: string }).stderr ?? '');
    if (classified) throw classified;
    throw new LifeboatError('VerificationFailed', `${validatorSteps[index]!.what} rejected the snapshot: ${lastLines(printed[index]!, 4) || (error as Error).message}`,
      'the source produced an invalid snapshot; no manifest was written: check the server and try again');
  }));
  // A scan that failed killed the tools: its error, not their SIGTERM, is the reason.
  const finished = Promise.all([source.finished, encoder.finished, ...judged]).then(
    (lists) => {
      if (tapError !== undefined) throw tapError;
      return lists.flat();
    },
    (error: unknown) => { throw tapError ?? error; },
  );
  finished.catch(kill);
  let done = false;
  filtered.on('end', () => { done = true; });
  return { output: encoder.output, finished, checks: () => [...printed], raw: () => (done ? { size } : undefined), kill };
}
