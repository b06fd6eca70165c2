import { describe, expect, it } from 'vitest';
import { readAll } from '../activities/storage/backend';
import { DigestStream, digestFile } from '../activities/pipeline/digest';
import { startPipeline } from '../activities/pipeline/processes';
import { descriptorStream } from '../activities/pipeline/fifo';
import { KEEP_LINES, warningCount } from '../activities/pipeline/stderr';
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('a pipeline of tools', () => {
  it('passes bytes from one tool to the next and reports success', async () => {
    const running = startPipeline([
      { tool: 'sh', args: ['-c', 'head -c 3000000 /dev/zero'], what: 'source' },
      { tool: 'zstd', args: ['-q', '-c'], what: 'compression' },
      { tool: 'zstd', args: ['-d', '-q', '-c'], what: 'decompression' },
    ]);
    const output = await readAll(running.output);
    await running.finished;
    expect(output.length).toBe(3_000_000);
  });

  it('writes the last tool\'s output straight into a file the caller opened, and hashes it the same as a stream would', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lifeboat-pipeline-'));
    try {
      const file = join(dir, 'out');
      const fd = openSync(file, 'w', 0o600);
      const running = startPipeline([
        { tool: 'zstd', args: ['-q', '-c'], what: 'compression' },
        { tool: 'zstd', args: ['-d', '-q', '-c'], what: 'decompression' },
      ], 'pipe', descriptorStream(fd));
      const input = Buffer.alloc(5_000_000, 'lifeboat ');
      running.input!.end(input);
      await running.finished;
      closeSync(fd);
      expect(readFileSync(file).equals(input)).toBe(true);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(await digestFile(file)).toEqual({ size: input.length, sha256: createHash('sha256').update(input).digest('hex') });

      const failing = openSync(file, 'w', 0o600);
      const broken = startPipeline([{ tool: 'zstd', args: ['-d', '-q', '-c'], what: 'decompression of junk' }], 'pipe', descriptorStream(failing));
      broken.input!.end(Buffer.from('not zstd at all'));
      await expect(broken.finished).rejects.toMatchObject({ message: expect.stringContaining('decompression of junk') });
      closeSync(failing);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names a missing tool and how to install it', async () => {
    const running = startPipeline([{ tool: 'pg_dump_not_installed', args: [], what: 'dump of x' }, { tool: 'zstd', args: ['-q', '-c'], what: 'compression' }]);
    running.output.resume();
    await expect(running.finished).rejects.toMatchObject({ type: 'MissingTool', message: expect.stringContaining('pg_dump_not_installed not found') });
  });

  it('blames the tool that failed, not its neighbours that saw the broken pipe', async () => {
    const running = startPipeline([
      { tool: 'sh', args: ['-c', 'head -c 50000000 /dev/zero'], what: 'source' },
      { tool: 'sh', args: ['-c', 'head -c 10 >/dev/null; echo "disk full" >&2; exit 3'], what: 'the middle step' },
      { tool: 'cat', args: [], what: 'sink' },
    ]);
    running.output.resume();
    await expect(running.finished).rejects.toMatchObject({ type: 'ToolFailed', message: expect.stringMatching(/the middle step: sh exited with code 3: disk full/) });
  });

  it('never ends the stream of a pipeline whose first tool failed half-way', async () => {
    const running = startPipeline([
      { tool: 'sh', args: ['-c', 'head -c 100000 /dev/urandom; exit 1'], what: 'a dump that dies' },
      { tool: 'zstd', args: ['-q', '-c'], what: 'compression' },
    ]);
    const digest = new DigestStream(running.finished);
    await expect(readAll(running.output.pipe(digest))).rejects.toMatchObject({ type: 'ToolFailed' });
  });

  it('drains a tool that prints megabytes of warnings, keeping the first lines and a count of the rest', async () => {
    const running = startPipeline([
      { tool: 'sh', args: ['-c', 'for i in $(seq 1 20000); do echo "./a/rather/long/path/to/a/file/that/changed/as/we/read/it/number-$i: file changed as we read it" >&2; done; printf done; exit 1'], what: 'a chatty tar', acceptExitCodes: [1] },
    ]);
    expect((await readAll(running.output)).toString()).toBe('done');
    const warnings = await running.finished;
    expect(warnings).toHaveLength(KEEP_LINES + 1);
    expect(warnings[0]).toBe('sh: ./a/rather/long/path/to/a/file/that/changed/as/we/read/it/number-1: file changed as we read it');
    expect(warnings.at(-1)).toBe(`sh: … ${20000 - KEEP_LINES} more warning line(s) not kept`);
    expect(warningCount(warnings)).toBe(20000);
  });

  it('reports a tool that failed after megabytes of stderr with the last of what it said', async () => {
    const running = startPipeline([{ tool: 'sh', args: ['-c', 'for i in $(seq 1 20000); do echo "noise line $i of a verbose tool, repeated to overflow any small buffer" >&2; done; echo "the real reason" >&2; exit 2'], what: 'a verbose tool' }]);
    running.output.resume();
    await expect(running.finished).rejects.toMatchObject({ type: 'ToolFailed', message: expect.stringMatching(/a verbose tool: sh exited with code 2: .*the real reason$/) });
  });

  it('counts and hashes what passes through', async () => {
    const running = startPipeline([{ tool: 'sh', args: ['-c', 'printf hello'], what: 'source' }]);
    const digest = new DigestStream(running.finished);
    expect((await readAll(running.output.pipe(digest))).toString()).toBe('hello');
    expect(digest.digest()).toEqual({ sha256: createHash('sha256').update('hello').digest('hex'), size: 5 });
  });
});

describe('a snapshot with a validator', () => {
  it('fails with what redis-check-rdb printed when the bytes are not a valid RDB', async () => {
    const { snapshotStream } = await import('../activities/pipeline/compose');
    const stream = await snapshotStream({
      producer: { tool: 'sh', args: ['-c', 'printf "REDIS0011 this is not an rdb"'], what: 'a broken snapshot' },
      validators: [{ tool: 'bash', args: ['-c', 'set -o pipefail; cat | redis-check-rdb /dev/stdin'], what: 'redis-check-rdb of test' }],
      parent: null,
      describe: async () => { throw new Error('not reached'); },
      release: async () => undefined,
    }, [{ tool: 'cat', args: [], what: 'encode' }]);
    stream.output.resume();
    await expect(stream.finished).rejects.toMatchObject({ type: 'VerificationFailed', message: expect.stringMatching(/redis-check-rdb of test rejected the snapshot: .*/) });
  });
});
