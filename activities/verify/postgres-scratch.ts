import { LifeboatError } from '../../lib/errors';
import { connect, databaseName, quoteIdent, redact, type PgTarget } from '../sources/postgres/connect';

/**
 * Drops the scratch database if it is there, after ending every session in it (a pg_restore or
 * pg_amcheck left by a killed worker holds one). Returns whether there was anything to drop.
 */
export async function dropScratchDatabase(server: PgTarget, scratch: PgTarget): Promise<boolean> {
  const name = databaseName(scratch.url);
  const client = await connect(server, 'verify target server');
  try {
    const { rows } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (rows.length === 0) return false;
    // Refuse connections first, so nothing new slips in between the terminate and the drop.
    await client.query(`alter database ${quoteIdent(name)} with allow_connections false`);
    await client.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
    await client.query(`drop database if exists ${quoteIdent(name)}`);
    return true;
  } catch (error) {
    throw new LifeboatError('ToolFailed', `dropping scratch database ${name} on ${redact(server.url)}: ${(error as Error).message}`,
      'the user of regions.<region>.verify.target.postgres must own the scratch databases it creates (CREATEDB)');
  } finally {
    await client.end();
  }
}
