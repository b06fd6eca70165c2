import { accessSync, constants, mkdirSync, readdirSync, statSync } from 'node:fs';
import { pipeline as pipe } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import { LifeboatError } from '../lib/errors';
import type { StoredObject } from '../lib/manifest';
import { VerifyingStream } from './pipeline/digest';
import { decodeSteps } from './pipeline/encode';
import { startPipeline, type Step } from './pipeline/processes';
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
    { tool: 'zstd', args: ['-t', '-q'], what: `decompression test of ${what}` },
  ]);
}

/** Decrypted, decompressed bytes of an object into `consumer`'s stdin, behind the SHA-256 check. */
export async function restoreObject(storage: StorageBackend, object: StoredObject, identity: string, what: string, consumer: Step): Promise<string[]> {
  return streamThrough(storage, object, [...decodeSteps(identity, what), consumer]);
}

/** Feeds a stored object, checked against its SHA-256 and size, into the steps' stdin. */
async function streamThrough(storage: StorageBackend, object: StoredObject, steps: Step[]): Promise<string[]> {
  const context = Context.current();
  const running = startPipeline(steps, 'pipe');
  running.output.resume();
  const onCancel = () => running.kill();
  context.cancellationSignal.addEventListener('abort', onCancel);
  let bytes = 0;
  // Often enough for the shortest heartbeat timeout a config allows; the SDK throttles what it sends.
  const beat = setInterval(() => context.heartbeat({ bytes }), 1000);
  try {
    const verifier = new VerifyingStream(object, (actual) => new LifeboatError('ChecksumMismatch',
      `${object.key}: stored object does not match its manifest (sha256 ${actual.sha256.slice(0, 16)}…, ${actual.size} bytes; expected ${object.sha256.slice(0, 16)}…, ${object.size} bytes)`,
      'the object was damaged or tampered with: restore from another backup or region; nothing was written to the target'));
    verifier.on('data', (chunk: Buffer) => { bytes += chunk.length; });
    const feeding = pipe(await storage.get(object.key), verifier, running.input!).catch((error: unknown) => {
      running.kill();
      throw error;
    });
    const [, warnings] = await Promise.all([feeding, running.finished]).catch(async (error: unknown) => {
      // The checksum verdict explains the tools' failures that follow from it; report it first.
      const fed = await feeding.then(() => undefined, (feedError: unknown) => feedError);
      throw fed instanceof LifeboatError ? fed : error;
    });
    return warnings;
  } finally {
    clearInterval(beat);
    context.cancellationSignal.removeEventListener('abort', onCancel);
  }
}


/** A restore directory must be new or empty unless the operator said to replace what is there. */
export function requireEmptyDirectory(directory: string, allowed: boolean, hint: string): void {
  mkdirSync(directory, { recursive: true });
  const present = readdirSync(directory);
  if (present.length > 0 && !allowed) {
    throw new LifeboatError('TargetNotEmpty', `restore directory ${directory} is not empty (${present.slice(0, 3).join(', ')}${present.length > 3 ? ', …' : ''})`, hint);
  }
}
