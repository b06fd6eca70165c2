import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePorts } from './ports';
import { checkTemporal, startTemporal } from './temporal';

describe('the Temporal dev server of the harness', () => {
  it('starts on fresh ports when a port it was given is taken before it binds it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lifeboat-temporal-ports-'));
    const [port, uiPort] = (await freePorts(2)) as [number, number];
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(uiPort, '127.0.0.1', resolve));
    const lines: string[] = [];
    try {
      const { temporal, stop } = await startTemporal({ dir, port, uiPort, log: (line) => lines.push(line) });
      try {
        expect(temporal.uiUrl).not.toBe(`http://127.0.0.1:${uiPort}`);
        await checkTemporal(temporal.address, temporal.namespace);
        expect(lines.join('\n')).toContain('starting again on fresh ports');
      } finally {
        await stop();
      }
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
