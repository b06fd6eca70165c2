import { describe, expect, it } from 'vitest';
import { parseHead, sequenceOfHeadKey } from '../lib/head-schema';
import { HEAD_FORMAT, keys } from '../lib/manifest';
import { crossCheck, describeFinding, type CompletedRun, type HeadFact } from '../lib/rollback';

const run = (n: number, headSequence: number | null = n): CompletedRun => ({
  workflowId: 'backup-app', runId: `run-${n}`, backupId: `2026010${n}T000000Z-${n}`, closedAt: `2026-01-0${n}T00:01:00.000Z`, headSequence,
});
const sha = (n: number) => String(n).repeat(64).slice(0, 64);
const head = (n: number, previous: number | null = n > 1 ? n - 1 : null): HeadFact => ({
  sequence: n, backupId: run(n).backupId, sha256: sha(n), previousHeadSha256: previous === null ? null : sha(previous),
});
const ids = (...ns: number[]) => ns.map((n) => run(n).backupId);

describe('the rollback cross-check', () => {
  it('finds nothing when every completed run has its manifest and the heads match Temporal', () => {
    expect(crossCheck({ runs: [run(1), run(2), run(3)], manifests: ids(1, 2, 3), tombstones: [], heads: [head(1), head(2), head(3)] })).toEqual([]);
  });

  it('reports the newest backup missing when its manifest is gone and no tombstone explains it', () => {
    const findings = crossCheck({ runs: [run(1), run(2), run(3)], manifests: ids(1, 2), tombstones: [], heads: [head(1), head(2), head(3)] });
    expect(findings).toEqual([
      { kind: 'backup-missing', backupId: run(3).backupId, workflowId: 'backup-app', runId: 'run-3', closedAt: run(3).closedAt, newest: true },
      { kind: 'head-names-missing-backup', sequence: 3, backupId: run(3).backupId },
    ]);
    expect(describeFinding(findings[0]!)).toMatch(/^newest backup missing: 20260103T000000Z-3 \(run run-3/);
  });

  it('reports an older backup missing, not as the newest', () => {
    const findings = crossCheck({ runs: [run(1), run(2), run(3)], manifests: ids(1, 3), tombstones: [], heads: [head(1), head(2), head(3)] });
    expect(findings[0]).toMatchObject({ kind: 'backup-missing', backupId: run(2).backupId, newest: false });
  });

  it('takes a trusted tombstone as a deletion by retention, not a rollback', () => {
    expect(crossCheck({ runs: [run(1), run(2), run(3)], manifests: ids(3), tombstones: ids(1, 2), heads: [head(1), head(2), head(3)] })).toEqual([]);
  });

  it('reports the head as gone backwards when Temporal recorded a higher sequence than the bucket holds', () => {
    expect(crossCheck({ runs: [run(1), run(2), run(3)], manifests: ids(1, 2, 3), tombstones: [], heads: [head(1), head(2)] }))
      .toEqual([{ kind: 'head-backwards', temporalSequence: 3, bucketSequence: 2, runId: 'run-3' }]);
    expect(crossCheck({ runs: [run(1)], manifests: ids(1), tombstones: [], heads: [] }))
      .toEqual([{ kind: 'head-backwards', temporalSequence: 1, bucketSequence: null, runId: 'run-1' }]);
  });

  it('reports a sequence two runs recorded: the heads were rolled back before the later backup', () => {
    const later = { ...run(4), headSequence: 3 };
    const findings = crossCheck({ runs: [run(1), run(2), run(3), later], manifests: ids(1, 2, 3, 4), tombstones: [], heads: [head(1), head(2), { ...head(3), backupId: later.backupId }] });
    expect(findings).toEqual([{ kind: 'head-reused', sequence: 3, runIds: ['run-4', 'run-3'] }]);
    expect(describeFinding(findings[0]!)).toMatch(/^head went backwards: head 3 was recorded by 2 runs/);
  });

  it('reports a gap and a broken chain between trusted heads', () => {
    expect(crossCheck({ runs: [], manifests: ids(1, 2, 3, 4), tombstones: [], heads: [head(1), head(3), head(4, 1)] })).toEqual([
      { kind: 'head-gap', after: 1, before: 3 },
      { kind: 'head-chain-broken', sequence: 4 },
    ]);
  });

  it('ignores runs from before head records for the sequence, and still checks their backups', () => {
    expect(crossCheck({ runs: [run(1, null), run(2, null)], manifests: ids(1), tombstones: [], heads: [] }))
      .toEqual([expect.objectContaining({ kind: 'backup-missing', backupId: run(2).backupId, newest: true })]);
  });
});

describe('head records as stored', () => {
  const value = { format: HEAD_FORMAT, source: 'app', sequence: 7, backupId: 'b7', manifestSha256: sha(7), finishedAt: '2026-01-01T00:00:00.000Z', previousHeadSha256: sha(6) };
  const bytes = (v: unknown) => Buffer.from(JSON.stringify(v));

  it('keys sort by sequence, twelve digits', () => {
    expect(keys.head('app', 7)).toBe('_heads/app/000000000007.json');
    expect(sequenceOfHeadKey('app', keys.head('app', 42))).toBe(42);
    expect(sequenceOfHeadKey('app', '_heads/app/000000000000.json')).toBeUndefined();
    expect(sequenceOfHeadKey('app', '_heads/app/000000000007.json.sig')).toBeUndefined();
    expect(sequenceOfHeadKey('app', '_heads/apple/000000000007.json')).toBeUndefined();
  });

  it('accepts a head stored at its own key and refuses one whose sequence or source is not the key\'s', () => {
    expect(parseHead(bytes(value), keys.head('app', 7), 'app')).toEqual({ head: value });
    expect(parseHead(bytes(value), keys.head('app', 8), 'app')).toEqual({ problem: 'it says it is head 7 of app but is stored at _heads/app/000000000008.json' });
    expect(parseHead(bytes({ ...value, source: 'other' }), keys.head('app', 7), 'app')).toMatchObject({ problem: expect.stringContaining('head 7 of other') });
    expect(parseHead(bytes({ ...value, sequence: 0 }), keys.head('app', 0), 'app')).toMatchObject({ problem: expect.stringMatching(/^sequence:/) });
    expect(parseHead(Buffer.from('{'), keys.head('app', 7), 'app')).toEqual({ problem: 'it is not valid JSON' });
  });
});
