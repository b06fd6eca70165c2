import { readdirSync, readlinkSync } from 'node:fs';
import { scratchDatabaseName } from '../../activities/verify/scratch';
import { withClient, type PgServer } from '../../scripts/sample-db';

/** Processes whose working directory is inside `directory`: redis-server chdirs into its --dir. */
export function processesIn(directory: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`).startsWith(directory)) found.push(Number(entry));
    } catch {
      // not ours to read, or gone
    }
  }
  return found;
}

/** Whether the scratch database of `scratchId` exists on the test server. */
export async function scratchDatabaseExists(server: PgServer, scratchId: string): Promise<boolean> {
  return withClient(server, 'postgres', async (client) => (await client.query('select 1 from pg_database where datname = $1', [scratchDatabaseName(scratchId)])).rows.length > 0);
}
