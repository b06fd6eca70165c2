import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { FileDecoder } from '../activities/pipeline/file-decoder';
import { watched } from '../activities/progress';
import { ageKey, type AgeKey } from './support/fixture';

/** The long-lived `age -d | zstd -d` loop that stages archived WAL: real age and zstd. */
describe('a long-lived file decoder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-decoder-'));
  let key: AgeKey;
  let other: AgeKey;
  const encode = async (bytes: Buffer, recipient = key.recipient) =>
    Buffer.from((await execa('sh', ['-c', 'zstd -q | age -r "$1"', 'sh', recipient], { input: bytes, encoding: 'buffer', stripFinalNewline: false })).stdout);
  const decoders = () => readdirSync(tmpdir()).filter((name) => name.startsWith('lifeboat-decode-')).length;

  beforeAll(async () => {
    key = await ageKey(dir);
    other = await ageKey(dir, 'other');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('decodes many files one after another with one shell, each byte for byte', async () => {
    const before = decoders();
    const decoder = new FileDecoder(key.identityFile);
    try {
      for (let index = 0; index < 20; index += 1) {
        const bytes = randomBytes(1000 + index * 5000);
        const into = join(dir, `out-${index}`);
        await decoder.decode(Readable.from([await encode(bytes)]), into, `file ${index}`);
        expect(readFileSync(into).equals(bytes), `file ${index}`).toBe(true);
      }
      expect(decoders()).toBe(before + 1);
    } finally {
      decoder.close();
    }
    expect(decoders()).toBe(before);
  });

  it('names a file encrypted to another key as BadKey, and decodes the next one', async () => {
    const decoder = new FileDecoder(key.identityFile);
    try {
      await expect(decoder.decode(Readable.from([await encode(Buffer.from('not yours'), other.recipient)]), join(dir, 'foreign'), 'WAL file A'))
        .rejects.toMatchObject({ type: 'BadKey', message: expect.stringContaining('decryption of WAL file A: the identity in') });
      await decoder.decode(Readable.from([await encode(Buffer.from('yours'))]), join(dir, 'after'), 'WAL file B');
      expect(readFileSync(join(dir, 'after'), 'utf8')).toBe('yours');
    } finally {
      decoder.close();
    }
  });

  it('names a damaged encrypted file as ChecksumMismatch', async () => {
    const decoder = new FileDecoder(key.identityFile);
    try {
      const encrypted = await encode(randomBytes(200_000));
      encrypted[encrypted.length - 100]! ^= 0xff;
      await expect(decoder.decode(Readable.from([encrypted]), join(dir, 'damaged'), 'WAL file C'))
        .rejects.toMatchObject({ type: 'ChecksumMismatch', message: expect.stringContaining('decryption of WAL file C: age authentication failed') });
    } finally {
      decoder.close();
    }
  });

  it('reads a file a local region holds itself, and names one that is not there as a storage error', async () => {
    const decoder = new FileDecoder(key.identityFile);
    try {
      const encrypted = join(dir, 'object.zst.age');
      writeFileSync(encrypted, await encode(Buffer.from('from a file')));
      await decoder.decode({ file: encrypted }, join(dir, 'from-file'), 'WAL file E');
      expect(readFileSync(join(dir, 'from-file'), 'utf8')).toBe('from a file');
      await expect(decoder.decode({ file: join(dir, 'missing.zst.age') }, join(dir, 'never'), 'WAL file F'))
        .rejects.toMatchObject({ type: 'Storage', message: expect.stringContaining('WAL file F: cannot read') });
      expect(existsSync(join(dir, 'never'))).toBe(false);
    } finally {
      decoder.close();
    }
  });

  it('stops waiting for a file that never ends when its activity stalls', async () => {
    const fifo = join(dir, 'never-written');
    await execa('mkfifo', [fifo]);
    let decoding: Promise<void> | undefined;
    const stalled = new MockActivityEnvironment().run(() => watched({ step: 'staging WAL', stallMs: 300 }, () => {
      decoding = new FileDecoder(key.identityFile).decode({ file: fifo }, join(dir, 'hung'), 'WAL file G');
      return decoding;
    }));
    await expect(stalled).rejects.toThrow(/made no progress/);
    await expect(decoding).rejects.toMatchObject({ type: 'ToolFailed', message: expect.stringContaining('the decoding shell stopped') });
    // The stand-in for a hung mount lets go: what waited to read it sees an empty file and exits.
    writeFileSync(fifo, '');
  }, 20_000);

  it('says the shell stopped, rather than waiting, when it is gone', async () => {
    const decoder = new FileDecoder(key.identityFile);
    decoder.close();
    await expect(decoder.decode(Readable.from([await encode(Buffer.from('x'))]), join(dir, 'late'), 'WAL file D'))
      .rejects.toMatchObject({ type: 'ToolFailed', message: expect.stringContaining('the decoding shell stopped') });
    expect(existsSync(join(dir, 'late'))).toBe(false);
  });
});
