import { LifeboatError } from '../../lib/errors';
import type { Step } from './processes';

/** zstd then age: what every backup passes through after its source tool. */
export function encodeSteps(compression: { level: number; threads: number }, recipients: string[], what: string): Step[] {
  return [
    { tool: 'zstd', args: [`-${compression.level}`, `-T${compression.threads}`, '-q', '-c'], what: `compression of ${what}` },
    { tool: 'age', args: ['--encrypt', ...recipients.flatMap((r) => ['-r', r])], what: `encryption of ${what}` },
  ];
}

/** age -d then zstd -d: the reverse, ending in raw source bytes on stdout. */
export function decodeSteps(identityFile: string, what: string): Step[] {
  return [
    {
      tool: 'age',
      args: ['--decrypt', '-i', identityFile],
      what: `decryption of ${what}`,
      classify: (stderr) => {
        if (/no identity matched/i.test(stderr)) {
          return new LifeboatError('BadKey', `decryption of ${what}: the identity in ${identityFile} is not one of the backup's recipients`,
            'use the private key that matches one of encryption.recipients at the time of the backup');
        }
        if (/failed to (read|open|parse).*identit|no identities found|error reading/i.test(stderr)) {
          return new LifeboatError('BadKey', `decryption of ${what}: cannot use identity file ${identityFile}: ${stderr.split('\n')[0]}`,
            'point encryption.identityFile at an age identity (AGE-SECRET-KEY-1…)');
        }
        if (/broken pipe|EPIPE/i.test(stderr) || stderr.trim() === '') return undefined;
        // Every other refusal (header, chunk authentication, truncation, trailing data) is about the bytes.
        return new LifeboatError('ChecksumMismatch', `decryption of ${what}: age authentication failed, the encrypted stream is damaged: ${stderr.split('\n').find((line) => line.trim()) ?? ''}`,
          'restore from another backup or another region');
      },
    },
    { tool: 'zstd', args: ['-d', '-q', '-c'], what: `decompression of ${what}` },
  ];
}
