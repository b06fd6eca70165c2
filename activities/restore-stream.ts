import { accessSync, constants, mkdirSync, readdirSync, statSync } from 'node:fs';
import { pipeline as pipe } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import { LifeboatError } from '../lib/errors';
import type { StoredObject } from '../lib/manifest';
import { VerifyingStream, type Digest } from './pipeline/digest';
import { FeedSink } from './pipeline/feed';
import { decodeSteps } from './pipeline/encode';
import { lastLines, startPipeline, type Step } from './pipeline/processes';
import { advance, stopSignal, watched } from './progress';
import type { StorageBackend } from './storage/backend';

export function identityFile(configured: string | undefined): string {
  if (!configured) {
    throw new LifeboatError('BadKey', 'encryption.identityFile is not set in this worker\'s config: restoring needs the private key',
      'set encryption.identityFile on the restore worker to the age identity file');
  }
  let mode: number;
  try {
    accessSync(configured, constants.R_OK);
    mode = statSync(configured).mode;
  } catch {
    throw new LifeboatError('BadKey', `identity file ${configured} is missing or not readable by this worker`, 'check encryption.identityFile and its permissions');
  }
  // As ssh does with a private key: one that others may read may already be someone else's.
  if ((mode & 0o077) !== 0) {
    throw new LifeboatError('BadKey', `identity file ${configured} is accessible by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): a private key must be readable by its owner only`,
      `chmod 600 ${configured} (and consider the key exposed if others could read it)`);
  }
  return configured;
}

/** Proves an object whole and decryptable, writing nothing anywhere: hash, decrypt, test-decompress. */
export async function verifyObject(storage: StorageBackend, object: StoredObject, identity: string, what: string): Promise<void> {
  await streamThrough(storage, object, [
    decodeSteps(identity, what)[0]!,
    { tool: 'zstd', args: ['-t', '-q'], what: `decompression test of ${what}`, classify: damagedCompression(object.key) },
  ]);
}

/** Decrypted, decompressed bytes of an object into `consumer`'s stdin, behind the SHA-256 check. */
export async function restoreObject(storage: StorageBackend, object: StoredObject, identity: string, what: string, consumer: Step): Promise<string[]> {
  const [decrypt, decompress] = decodeSteps(identity, what);
  return streamThrough(storage, object, [decrypt!, { ...decompress!, classify: damagedCompression(object.key) }, consumer]);
}

/**
 * Feeds a stored object, checked against its SHA-256 and size, into the steps' stdin, and reports
 * one cause when it fails. The stored bytes are always read to their end, even after a tool gave up,
 * so the verdict is the hash: a damaged object is ChecksumMismatch (naming what else refused it),
 * never the EPIPE that a tool which stopped reading leaves behind.
 */
async function streamThrough(storage: StorageBackend, object: StoredObject, steps: Step[]): Promise<string[]> {
  const consumer = steps.at(-1)!;
  // Names the tool that reads the bytes: "pg_restore into … made no progress" says what hung.
  return watched({ step: consumer.what, details: { key: object.key, bytes: 0 } }, async () => {
    const context = Context.current();
    const running = startPipeline(steps, 'pipe');
    running.output.resume();
    const abort = new AbortController();
    const stop = stopSignal() ?? context.cancellationSignal;
    const onStop = () => {
      abort.abort(stop.reason);
      running.kill();
    };
    stop.addEventListener('abort', onStop);
    let bytes = 0;
    try {
      let mismatch: LifeboatError | undefined;
      const verifier = new VerifyingStream(object, (actual) => (mismatch = mismatchError(object, actual)));
      // Bytes taken by the tools are the progress: a tool that stops reading (a lock, a full disk) stalls them.
      verifier.on('data', (chunk: Buffer) => advance({ key: object.key, bytes: (bytes += chunk.length) }));
      const feeding = pipe(await storage.get(object.key), verifier, new FeedSink(running.input!), { signal: abort.signal });
      const [fed, ran] = await Promise.allSettled([feeding, running.finished]);
      if (mismatch) {
        const also = ran.status === 'rejected' ? `; the tools also refused it: ${describe(ran.reason)}` : '';
        throw new LifeboatError(mismatch.type, `${mismatch.message}${also}`, mismatch.hint, { cause: mismatch });
      }
      if (fed.status === 'rejected') throw fed.reason;
      // The bytes are exactly what the manifest recorded, so a tool's failure is its own cause.
      if (ran.status === 'rejected') throw ran.reason;
      return ran.value;
    } finally {
      stop.removeEventListener('abort', onStop);
    }
  });
}

function mismatchError(object: StoredObject, actual: Digest): LifeboatError {
  // VerifyingStream stops as soon as an object grows past its recorded size, so a larger size is always that early verdict.
  const what = actual.size > object.size
    ? `size: more than the ${object.size} bytes the manifest records`
    : actual.size !== object.size
      ? `size: ${actual.size} bytes, the manifest records ${object.size}`
      : `SHA-256: ${actual.sha256.slice(0, 16)}…, the manifest records ${object.sha256.slice(0, 16)}…`;
  return new LifeboatError('ChecksumMismatch', `${object.key}: stored object does not match its manifest (${what})`,
    'the object was damaged or tampered with: restore from another backup or region; nothing was written to the target');
}

function describe(reason: unknown): string {
  const message = reason instanceof Error ? reason.message : String(reason);
  return message.split('\n')[0]!.slice(0, 300);
}

/** zstd refusing bytes that age authenticated: the object was written damaged, and a retry reads the same bytes. */
function damagedCompression(key: string): Step['classify'] {
  return (stderr) => {
    if (/broken pipe|EPIPE/i.test(stderr)) return undefined;
    return new LifeboatError('ChecksumMismatch', `${key}: decompression failed: ${lastLines(stderr, 2) || 'zstd refused the decrypted bytes'}`,
      'the backup was damaged before it was stored: restore from another backup; nothing was written to the target');
  };
}

/** A restore directory must be new or empty unless the operator said to replace what is there. */
export function requireEmptyDirectory(directory: string, allowed: boolean, hint: string): void {
  mkdirSync(directory, { recursive: true });
  const present = readdirSync(directory);
  if (present.length > 0 && !allowed) {
    throw new LifeboatError('TargetNotEmpty', `restore directory ${directory} is not empty (${present.slice(0, 3).join(', ')}${present.length > 3 ? ', …' : ''})`, hint);
  }
}
