import type { Readable } from 'node:stream';
import type { Snapshot } from '../sources/source';
import { LifeboatError } from '../../lib/errors';
import { lastLines, startPipeline, type RunningPipeline, type Step } from './processes';

export interface SnapshotStream {
  /** The encrypted bytes to store. */
  output: Readable;
  /** Every tool succeeded (with their warnings), validators included. */
  finished: Promise<string[]>;
  /** What each validator printed on stdout, once finished. */
  checks(): string[];
  /** Size of the raw (unencrypted) bytes, when they passed through Node. */
  raw(): { size: number } | undefined;
  kill(): void;
}

/**
 * producer → encode, as one chain of file descriptors when nothing needs the raw bytes; otherwise
 * the raw bytes come through Node once, to be filtered and copied to the validators.
 */
export function snapshotStream(snapshot: Snapshot, encode: Step[]): SnapshotStream {
  const producer = snapshot.producer;
  if (!('start' in producer) && !snapshot.filter && !snapshot.validators?.length) {
    const chain = startPipeline([producer, ...encode]);
    return { output: chain.output, finished: chain.finished, checks: () => [], raw: () => undefined, kill: chain.kill };
  }
  // A producer in the worker (StreamProducer) hands its bytes to Node anyway.
  const source = 'start' in producer ? producer.start() : startPipeline([producer]);
  const encoder = startPipeline(encode, 'pipe');
  const validatorSteps = snapshot.validators ?? [];
  const validators = validatorSteps.map((step) => startPipeline([step], 'pipe'));
  const printed = validators.map(() => '');
  const all: Array<Pick<RunningPipeline, 'kill'>> = [source, encoder, ...validators];
  const kill = () => all.forEach((running) => running.kill());
  const filtered = snapshot.filter ? source.output.pipe(snapshot.filter) : source.output;
  filtered.on('error', kill);
  // Counted as they pass, not hashed: only the size is recorded, and a base backup is gigabytes of it.
  let size = 0;
  filtered.on('data', (chunk: Buffer) => { size += chunk.length; });
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
  const finished = Promise.all([source.finished, encoder.finished, ...judged]).then((lists) => lists.flat());
  finished.catch(kill);
  let done = false;
  filtered.on('end', () => { done = true; });
  return { output: encoder.output, finished, checks: () => [...printed], raw: () => (done ? { size } : undefined), kill };
}
