import { Readable } from 'node:stream';
import type pg from 'pg';
import { LifeboatError } from '../../../lib/errors';
import { advance, stopSignal } from '../../progress';
import type { StreamProducer } from '../source';
import { connect, type PgTarget } from './connect';
import { directoryHeader, TarJoiner } from './tar-join';

/**
 * A base backup taken over the replication protocol itself (PostgreSQL 15's BASE_BACKUP), for
 * clusters with tablespaces of their own: pg_basebackup refuses to write more than one tablespace
 * to stdout. The server streams one tar archive per tablespace, then the data directory's, then
 * the backup_manifest, all in one COPY OUT; they leave here as ONE tar, each tablespace stored in
 * place under pg_tblspc/<oid>/ (the paths the backup_manifest lists), the manifest as member
 * backup_manifest, and the server's tablespace_map as tablespace_map.lifeboat (PostgreSQL would
 * otherwise try to replace the non-empty pg_tblspc/<oid> directories by links at recovery).
 */

/** The file the server's tablespace_map is stored as: the original locations, for the operator. */
export const TABLESPACE_MAP_COPY = 'tablespace_map.lifeboat';

export interface StreamedTablespace {
  oid: number;
  /** Where the tablespace was on the source. */
  location: string;
  /** Bytes of its tar archive. */
  sizeBytes: number;
}

export interface ProtocolBackup extends StreamProducer {
  /** The tablespaces the server sent, once the stream has ended. */
  tablespaces(): StreamedTablespace[];
}

export function protocolBaseBackup(options: {
  target: PgTarget;
  label: string;
  what: string;
  /** Turns a server error into the typed error pg_basebackup's stderr would have given. */
  classify(message: string): LifeboatError | undefined;
}): ProtocolBackup {
  const streamed: StreamedTablespace[] = [];
  return {
    what: options.what,
    tablespaces: () => streamed.map((t) => ({ ...t })),
    start() {
      let client: pg.Client | undefined;
      let stopped = false;
      const output = new Readable({
        read() {
          client?.connection.stream.resume();
        },
      });
      const kill = () => {
        if (stopped) return;
        stopped = true;
        // The socket goes at once: the server ends the backup (and its WAL sender) when it sees it close.
        client?.connection.stream.destroy();
        void client?.end().catch(() => undefined);
        output.destroy();
      };
      const fail = (error: unknown): LifeboatError => {
        const message = (error as Error).message ?? String(error);
        // connect()'s errors already name the server ("what (url): authentication failed: …"): classified by the server's own words.
        if (error instanceof LifeboatError) return options.classify(message.replace(/^.*?\): (authentication failed: |cannot connect: )?/, '')) ?? error;
        return options.classify(message) ?? new LifeboatError('ToolFailed', `${options.what}: ${message}`);
      };
      const finished = (async (): Promise<string[]> => {
        try {
          client = await connect(options.target, options.what, { replication: true });
        } catch (error) {
          throw fail(error);
        }
        if (stopped) throw new LifeboatError('ToolFailed', `${options.what}: stopped`);
        const push = (chunk: Buffer) => {
          if (!output.push(chunk)) client!.connection.stream.pause();
        };
        const query = new BaseBackupQuery(options.label, new TarJoiner(push), streamed);
        const done = new Promise<void>((resolve, reject) => {
          query.done = (error) => (error ? reject(error) : resolve());
        });
        // A Submittable returns itself, not a promise: its outcome is `done`.
        void client.query(query as unknown as pg.QueryConfig);
        try {
          await done;
        } catch (error) {
          throw fail(error);
        }
        output.push(null);
        await client.end().catch(() => undefined);
        return [];
      })();
      finished.catch(kill);
      const stop = stopSignal();
      if (stop) {
        stop.addEventListener('abort', kill);
        void finished.finally(() => stop.removeEventListener('abort', kill)).catch(() => undefined);
      }
      return { output, finished, kill };
    },
  };
}

/** BASE_BACKUP as a pg "Submittable": the client hands it every message of the exchange. */
class BaseBackupQuery {
  done: (error?: Error) => void = () => undefined;
  private resultSets = 0;
  private locations = new Map<string, number>();
  private current: StreamedTablespace | undefined;
  private archives = 0;
  private sawBase = false;
  private inManifest = false;
  private manifest: Buffer[] = [];
  private error: Error | undefined;
  private reportedAt = 0;

  constructor(private readonly label: string, private readonly joiner: TarJoiner, private readonly streamed: StreamedTablespace[]) {}

  submit(connection: { query(text: string): void }): void {
    // WAL true with WAIT false is pg_basebackup -X fetch: the WAL from start to end rides in the data
    // directory's archive (held by the caller's temporary slot), so archiving need not be awaited.
    const label = this.label.replaceAll("'", "''");
    connection.query(`BASE_BACKUP (LABEL '${label}', CHECKPOINT 'fast', WAL true, WAIT false, MANIFEST 'yes', TABLESPACE_MAP true, TARGET 'client')`);
  }

  handleRowDescription(): void {
    this.resultSets += 1;
  }

  handleDataRow(message: { fields: Array<string | null> }): void {
    // The second result set lists the tablespaces: spcoid, spclocation, size (null for the data directory).
    if (this.resultSets !== 2) return;
    const [oid, location] = message.fields;
    if (oid !== null && oid !== undefined && location !== null && location !== undefined) this.locations.set(location, Number(oid));
  }

  handleCopyData(message: { chunk: Buffer }): void {
    if (this.error) return;
    try {
      this.copyData(message.chunk);
    } catch (error) {
      this.error = error as Error;
      // Not read to its end: the caller closes the connection, which ends the backup on the server.
      this.settle();
    }
  }

  private copyData(chunk: Buffer): void {
    const type = String.fromCharCode(chunk[0]!);
    // A copy: node-postgres reuses the buffer the message was read into once this handler returns.
    const body = Buffer.from(chunk.subarray(1));
    switch (type) {
      case 'n': {
        const end = body.indexOf(0);
        const archive = body.subarray(0, end).toString('utf8');
        const location = body.subarray(end + 1, body.indexOf(0, end + 1)).toString('utf8');
        this.archives += 1;
        if (location === '') {
          advance({ phase: 'streaming the data directory' });
          this.current = undefined;
          this.sawBase = true;
          this.joiner.begin({
            rename: (name, memberType) => {
              if (name === 'tablespace_map') return TABLESPACE_MAP_COPY;
              // Links are not sent with TABLESPACE_MAP; should one come, the tablespace is already a directory there.
              if (memberType === '2' && /^pg_tblspc\/\d+\/?$/.test(name)) return null;
              return name;
            },
          });
          return;
        }
        const oid = this.locations.get(location) ?? Number(/^(\d+)\.tar$/.exec(archive)?.[1]);
        if (!Number.isInteger(oid) || oid <= 0) throw new Error(`the server sent archive ${archive} for ${location}, a tablespace it did not list`);
        advance({ phase: `streaming tablespace ${oid} (${location})` });
        this.current = { oid, location, sizeBytes: 0 };
        this.streamed.push(this.current);
        const prefix = `pg_tblspc/${oid}/`;
        this.joiner.begin({
          rename: (name) => `${prefix}${name.replace(/^\.\//, '')}`,
          prologue: (first) => [...(this.streamed.length === 1 ? directoryHeader('pg_tblspc', first) : []), ...directoryHeader(`pg_tblspc/${oid}`, first)],
        });
        return;
      }
      case 'd':
        if (this.inManifest) {
          this.manifest.push(body);
          return;
        }
        if (this.archives === 0) throw new Error('the server sent archive data before naming an archive');
        if (this.current) this.current.sizeBytes += body.length;
        this.joiner.write(body);
        return;
      case 'p':
        // The server's count of the tablespace's bytes done (Int64): progress of its own, once a second at most.
        if (body.length >= 8 && Date.now() - this.reportedAt >= 1000) {
          this.reportedAt = Date.now();
          advance({ serverBytes: Number(body.readBigInt64BE(0)) });
        }
        return;
      case 'm':
        advance({ phase: 'receiving backup_manifest' });
        this.inManifest = true;
        return;
      default:
        throw new Error(`unexpected message type ${JSON.stringify(type)} in the base backup stream`);
    }
  }

  handleCommandComplete(): void {}

  handleEmptyQuery(): void {}

  handlePortalSuspended(): void {}

  handleError(error: Error): void {
    this.error ??= error;
    // A socket error brings no ReadyForQuery: finish now. A server error is followed by one, which finds the exchange done.
    this.settle();
  }

  handleReadyForQuery(): void {
    if (!this.error) {
      try {
        if (!this.sawBase) throw new Error('the server ended the base backup without the data directory\'s archive');
        if (!this.inManifest) throw new Error('the server ended the base backup without its backup_manifest');
        this.joiner.finish([{ name: 'backup_manifest', data: Buffer.concat(this.manifest) }]);
      } catch (error) {
        this.error = error as Error;
      }
    }
    this.settle();
  }

  private settled = false;

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.done(this.error);
  }
}
