import { ApplicationFailure, WorkflowFailedError, type Client } from '@temporalio/client';
import { createDeps } from '../../activities/deps';
import { mapVerifiedBackups, type UntrustedItem } from '../../activities/catalog';
import { walCoverage } from '../../activities/wal/coverage';
import { parseDuration } from '../../lib/config/duration';
import { LifeboatError } from '../../lib/errors';
import type { Config } from '../../lib/config/schema';
import type { Manifest } from '../../lib/manifest';
import type { VerifyRecord } from '../../lib/verify';
import { sourceKey } from '../../workflows/search-attributes';
import { bytes, type Output } from '../output';
import { age } from './ages';
import { rollbackStatus, type RollbackStatus } from './status-rollback';
import { rpoStatus, type RpoStatus } from './rpo-status';
import { verificationStatus, type RtoStatus, type VerifiedStatus } from './status-verified';
import { restoreDuration } from './verified-text';

export interface RegionCopies {
  /** Backups of the source in this region; null when its catalog could not be read. */
  backups: number | null;
  newest: string | null;
  /** Whether the region holds the home region's newest backup. */
  hasNewest: boolean;
  /** How far its newest copy is behind the home region's newest, in seconds. */
  lagSeconds: number | null;
  /** Manifests and records here that no trusted key signed: never counted above. */
  untrusted?: Array<{ key: string; reason: string }>;
  error?: string;
}

export interface LastFailure {
  workflowId: string;
  runId: string;
  closedAt: string | null;
  type: string;
  message: string;
}

export interface SourceStatus {
  source: string;
  kind: string;
  region: string;
  newest: { id: string; finishedAt: string; ageSeconds: number; bytes: number } | null;
  rpo: { objectiveSeconds: number | null; status: RpoStatus };
  copies: Record<string, RegionCopies>;
  lastFailure: LastFailure | null;
  /** The newest backup a verification passed for, in any region, against the RPO. */
  verified: VerifiedStatus;
  /** The newest passed restore-level verification's duration against the RTO. */
  rto: RtoStatus;
  /** Sources that archive WAL: per region, the newest segment and its age, the real RPO of point-in-time recovery. */
  wal?: Record<string, WalNewest>;
  /** Whether the catalog still holds every backup Temporal saw complete and its head records are not behind (CATALOG column). */
  rollback?: RollbackStatus;
}

/** What status keeps of each backup of a region: the rest of its manifest is let go as its source is read. */
interface StatusEntry {
  manifest: Pick<Manifest, 'id' | 'source' | 'finishedAt'>;
  /** All its objects. */
  bytes: number;
  records: VerifyRecord[];
}

interface StatusCatalog {
  entries: StatusEntry[];
  untrusted: UntrustedItem[];
}

export interface WalNewest {
  segment: string | null;
  ageSeconds: number | null;
  error?: string;
}

export interface StatusReport {
  at: string;
  /** "ok", or why the last failures could not be read. */
  temporal: string;
  sources: SourceStatus[];
}

/**
 * Catalogs straight from every region's storage (they work with Temporal down), and the newest
 * failed backupSource run of each source from Temporal's visibility.
 */
export async function statusCommand(config: Config, connect: () => Promise<Client>, out: Output, options: { verifyListing?: boolean } = {}): Promise<void> {
  const now = Date.now();
  const deps = createDeps(config);
  const catalogs = new Map<string, StatusCatalog | Error>();
  const listing = options.verifyListing ? 'full' : 'journal';
  // Temporal is reached while the catalogs are read: the command waits for the slower, not for both.
  const connecting = connect().then((client) => ({ client }), (error: unknown) => ({ error: error as Error }));
  // What each source needs besides its catalogs (last failure, rollback check, WAL), asked as soon as
  // Temporal answers, alongside the catalog reads rather than after them. None of them rejects.
  const extras = connecting.then(async (connected) => {
    const client = 'client' in connected ? connected.client : undefined;
    return new Map(await Promise.all(Object.entries(config.sources).map(async ([source, sourceConfig]) => [source, await Promise.all([
      client ? lastFailureOf(client, source).catch(() => null) : null,
      sourceConfig.kind === 'postgres' && sourceConfig.wal ? walNewest(deps, source, now) : undefined,
      rollbackStatus(client, deps, source),
    ])] as const)));
  });
  await Promise.all(Object.keys(config.regions).map(async (region) => {
    const keep = ({ manifest, records }: { manifest: Manifest; records: VerifyRecord[] }): StatusEntry => ({
      manifest: { id: manifest.id, source: manifest.source, finishedAt: manifest.finishedAt },
      bytes: manifest.objects.reduce((sum, o) => sum + o.size, 0),
      records,
    });
    catalogs.set(region, await mapVerifiedBackups(deps.storage(region), deps.trusted, undefined, { listing }, keep).catch((error: unknown) => error as Error));
  }));
  const connected = await connecting;
  const client: Client | undefined = 'client' in connected ? connected.client : undefined;
  const temporal = 'error' in connected ? connected.error.message : 'ok';
  // Each region's entries by source, once: not a pass over every region's whole catalog for each source.
  const bySource = new Map<string, Map<string, StatusEntry[]>>();
  for (const [region, catalog] of catalogs) {
    if (catalog instanceof Error) continue;
    const groups = new Map<string, StatusEntry[]>();
    for (const entry of catalog.entries) {
      const group = groups.get(entry.manifest.source);
      if (group) group.push(entry);
      else groups.set(entry.manifest.source, [entry]);
    }
    bySource.set(region, groups);
  }
  try {
    const asked = await extras;
    const sources = Object.entries(config.sources).map(([source, sourceConfig]): SourceStatus => {
      const of = (region: string) => {
        const catalog = catalogs.get(region);
        return catalog instanceof Error || catalog === undefined ? catalog : bySource.get(region)?.get(source) ?? [];
      };
      const untrustedIn = (region: string) => {
        const catalog = catalogs.get(region);
        return catalog instanceof Error || catalog === undefined ? [] : catalog.untrusted.filter((item) => item.key.startsWith(`${source}/`));
      };
      const home = of(sourceConfig.region);
      const newestEntry = Array.isArray(home) ? home.at(-1) : undefined;
      const newest = newestEntry
        ? {
            id: newestEntry.manifest.id,
            finishedAt: newestEntry.manifest.finishedAt,
            ageSeconds: Math.round((now - Date.parse(newestEntry.manifest.finishedAt)) / 1000),
            bytes: newestEntry.bytes,
          }
        : null;
      const objectiveSeconds = config.objectives ? parseDuration(config.objectives.rpo) / 1000 : null;
      const status = rpoStatus(objectiveSeconds, newest?.ageSeconds ?? null);
      const copies = Object.fromEntries(Object.keys(config.regions).map((region): [string, RegionCopies] => {
        const entries = of(region);
        if (!Array.isArray(entries)) return [region, { backups: null, newest: null, hasNewest: false, lagSeconds: null, error: entries?.message ?? 'not read' }];
        const last = entries.at(-1);
        const lag = newest && last ? Math.max(0, Math.round((Date.parse(newest.finishedAt) - Date.parse(last.manifest.finishedAt)) / 1000)) : null;
        const untrusted = untrustedIn(region);
        return [region, {
          backups: entries.length, newest: last?.manifest.id ?? null, hasNewest: newest !== null && entries.some((e) => e.manifest.id === newest.id), lagSeconds: lag,
          ...(untrusted.length > 0 ? { untrusted } : {}),
        }];
      }));
      const readable = Object.keys(config.regions).map(of).filter((entries) => Array.isArray(entries));
      const [lastFailure, wal, rollback] = asked.get(source)!;
      return {
        source, kind: sourceConfig.kind, region: sourceConfig.region, newest, rpo: { objectiveSeconds, status }, copies, lastFailure, rollback,
        ...verificationStatus(readable.flat(), config.objectives, now),
        ...(wal ? { wal } : {}),
      };
    });
    const report: StatusReport = { at: new Date(now).toISOString(), temporal, sources };
    if (temporal !== 'ok') out.note(`last failures unknown: ${temporal}`);
    out.result(report, statusText(report, colours(!out.json && process.stdout.isTTY === true && process.env.NO_COLOR === undefined)));
    const missed = report.sources.filter((s) => s.newest === null || s.rpo.status === 'LATE');
    if (missed.length > 0) {
      // After the report, so a monitoring check gets both the table (or JSON) and the exit code.
      throw new LifeboatError('ObjectiveMissed', `${missed.length} source${missed.length > 1 ? 's' : ''} need${missed.length > 1 ? '' : 's'} a backup: ${missed.map((s) => (s.newest === null ? `${s.source} (never backed up)` : `${s.source} (newest ${age(s.newest.ageSeconds)} old, RPO ${age(s.rpo.objectiveSeconds!)})`)).join(', ')}`,
        'run "lifeboat backup SOURCE --wait", and look at the LAST FAILURE column and "lifeboat schedules list" for why the schedule did not');
    }
  } finally {
    await client?.connection.close();
  }
}

async function walNewest(deps: ReturnType<typeof createDeps>, source: string, now: number): Promise<Record<string, WalNewest>> {
  return Object.fromEntries(await Promise.all(Object.keys(deps.config.regions).map(async (region): Promise<[string, WalNewest]> => {
    try {
      const { newest } = await walCoverage(deps.storage(region), source);
      return [region, { segment: newest?.name ?? null, ageSeconds: newest ? Math.max(0, Math.round((now - Date.parse(newest.modified)) / 1000)) : null }];
    } catch (error) {
      return [region, { segment: null, ageSeconds: null, error: (error as Error).message }];
    }
  })));
}

/** The newest failed or timed-out backupSource run of the source, with its failure type. */
async function lastFailureOf(client: Client, source: string): Promise<LastFailure | null> {
  const query = `WorkflowType = 'backupSource' AND ${sourceKey.name} = '${source}' AND ExecutionStatus IN ('Failed', 'TimedOut')`;
  let newest: { workflowId: string; runId: string; closeTime?: Date } | undefined;
  for await (const run of client.workflow.list({ query, pageSize: 50 })) {
    if (!newest || (run.closeTime?.getTime() ?? 0) > (newest.closeTime?.getTime() ?? 0)) newest = run;
  }
  if (!newest) return null;
  let type = 'Error';
  let message = 'failed';
  try {
    await client.workflow.getHandle(newest.workflowId, newest.runId).result();
  } catch (error) {
    const cause = error instanceof WorkflowFailedError ? error.cause : undefined;
    type = cause instanceof ApplicationFailure ? (cause.type ?? 'Error') : cause?.name === 'TimeoutFailure' ? 'Timeout' : (cause?.name ?? 'Error');
    message = cause?.message ?? (error as Error).message;
  }
  return { workflowId: newest.workflowId, runId: newest.runId, closedAt: newest.closeTime?.toISOString() ?? null, type, message };
}

export interface Colours {
  good(text: string): string;
  bad(text: string): string;
  warn(text: string): string;
}

export function colours(on: boolean): Colours {
  const paint = (code: number) => (text: string) => (on ? `\x1b[${code}m${text}\x1b[0m` : text);
  return { good: paint(32), bad: paint(31), warn: paint(33) };
}

export function statusText(report: StatusReport, c: Colours = colours(false)): string {
  if (report.sources.length === 0) return 'no sources in the config';
  const rows: Cell[][] = report.sources.map((s) => {
    const copies = Object.entries(s.copies).map(([region, copy]) => {
      if (copy.backups === null) return `${region} ?`;
      const untrusted = copy.untrusted?.length ? c.bad(` ${copy.untrusted.length} UNTRUSTED`) : '';
      return `${region} ${copy.backups}${copy.hasNewest ? '' : copy.lagSeconds ? ` (-${age(copy.lagSeconds)})` : ' (no newest)'}${untrusted}`;
    }).join(', ');
    const complete = Object.values(s.copies).every((copy) => copy.hasNewest);
    return [
      [s.source], [s.kind], [s.region],
      [s.newest ? `${age(s.newest.ageSeconds)} ago` : 'never'],
      s.rpo.status === 'OK' ? ['OK', c.good] : s.rpo.status === 'NO-OBJECTIVE' ? ['-'] : [s.rpo.status, c.bad],
      [copies, complete ? undefined : c.warn],
      [s.newest ? bytes(s.newest.bytes) : '-'],
      verifiedCell(s.verified, c),
      rtoCell(s.rto, c),
      s.lastFailure ? [`${s.lastFailure.type} at ${s.lastFailure.closedAt?.replace(/\.\d+Z$/, 'Z') ?? '?'}`, c.warn] : ['-'],
      !s.rollback ? ['-'] : s.rollback.status === 'ok' ? ['ok', c.good] : s.rollback.status === 'ROLLBACK' ? ['ROLLBACK', c.bad] : ['?', c.warn],
    ];
  });
  const header: Cell[] = ['SOURCE', 'KIND', 'REGION', 'NEWEST', 'RPO', 'COPIES', 'SIZE', 'VERIFIED', 'RTO', 'LAST FAILURE', 'CATALOG'].map((text) => [text]);
  const all = [header, ...rows];
  // Widths from the plain text: colour codes take no room on the terminal.
  const widths = header.map((_, column) => Math.max(...all.map((row) => row[column]![0].length)));
  const lines = all.map((row) => row.map(([text, paint], column) => {
    const padded = column === row.length - 1 ? text : text.padEnd(widths[column]!);
    return paint ? paint(padded) : padded;
  }).join('  ').trimEnd());
  const archiving = report.sources.filter((s) => s.wal);
  const rolledBack = report.sources.filter((s) => s.rollback?.status === 'ROLLBACK');
  if (rolledBack.length > 0) {
    lines.push('', c.bad('ROLLBACK (backups Temporal saw complete are gone, or the head records went backwards; "restore --latest" takes the newest left)'),
      ...rolledBack.flatMap((s) => s.rollback!.problems.map((problem) => `  ${s.source}  ${problem}`)));
  }
  if (archiving.length > 0) lines.push('', 'WAL (age of the newest archived segment per region: the real RPO of point-in-time recovery)', ...archiving.map((s) => walLine(s, c)));
  return lines.join('\n');
}

function walLine(s: SourceStatus, c: Colours): string {
  const cells = Object.entries(s.wal!).map(([region, w]) => {
    if (w.error) return c.bad(`${region} ?`);
    if (!w.segment) return c.bad(`${region} none`);
    const text = `${region} ${age(w.ageSeconds)} ago (${w.segment})`;
    return s.rpo.objectiveSeconds !== null && w.ageSeconds! > s.rpo.objectiveSeconds ? c.bad(text) : text;
  });
  return `  ${s.source}  ${cells.join(', ')}`;
}

type Cell = [text: string, paint?: (text: string) => string];

/** "5.2h ago" (the verified backup's age), red past the RPO; "never". */
function verifiedCell(v: VerifiedStatus, c: Colours): Cell {
  if (!v.newest) return ['never', v.status === 'NO-OBJECTIVE' ? undefined : c.bad];
  const text = `${age(v.newest.ageSeconds)} ago`;
  return v.status === 'OK' ? [text, c.good] : v.status === 'LATE' ? [text, c.bad] : [text];
}

/** "41 s of 4.0h" (measured of objective), red when slower than the RTO; "unmeasured". */
function rtoCell(r: RtoStatus, c: Colours): Cell {
  if (!r.measured) return r.status === 'NO-OBJECTIVE' ? ['-'] : ['unmeasured', c.warn];
  const text = `${restoreDuration(r.measured.seconds * 1000)}${r.objectiveSeconds === null ? '' : ` of ${age(r.objectiveSeconds)}`}`;
  return r.status === 'OK' ? [text, c.good] : r.status === 'SLOW' ? [text, c.bad] : [text];
}
