// Rollback and deletion detection: Temporal's record of finished backups, the catalog and the signed
// head records are three witnesses. Someone who can delete from a bucket can remove a backup or
// roll the head records back, but cannot make Temporal forget the runs that reported them.

/** A completed backupSource run, as Temporal's visibility store reports it. */
export interface CompletedRun {
  workflowId: string;
  runId: string;
  backupId: string;
  closedAt: string | null;
  /** The head sequence the run recorded (its memo); null for runs from before head records. */
  headSequence: number | null;
}

export interface HeadFact {
  sequence: number;
  backupId: string;
  sha256: string;
  previousHeadSha256: string | null;
}

export interface CrossCheckInput {
  /** The newest completed runs (a bounded window), in any order. */
  runs: CompletedRun[];
  /** Ids of the trusted manifests in the source's home region. */
  manifests: string[];
  /** Ids of the trusted tombstones there: backups retention deleted. */
  tombstones: string[];
  /** The newest trusted heads read, in any order. */
  heads: HeadFact[];
}

export type RollbackFinding =
  /** A run Temporal saw complete whose backup has neither a trusted manifest nor a tombstone. `newest`: newer than every trusted backup, so "latest" went back. */
  | { kind: 'backup-missing'; backupId: string; workflowId: string; runId: string; closedAt: string | null; newest: boolean }
  /** The newest trusted head is below a sequence a completed run recorded. */
  | { kind: 'head-backwards'; temporalSequence: number; bucketSequence: number | null; runId: string }
  /** Two runs recorded one sequence: the heads were rolled back before the later backup. */
  | { kind: 'head-reused'; sequence: number; runIds: string[] }
  /** Sequences missing between trusted heads. */
  | { kind: 'head-gap'; after: number; before: number }
  /** A head that does not chain to the one before it. */
  | { kind: 'head-chain-broken'; sequence: number }
  | { kind: 'head-names-missing-backup'; sequence: number; backupId: string };

/** Everything the witnesses disagree on, the most urgent first. Pure: the caller reads Temporal first, then the bucket. */
export function crossCheck({ runs, manifests, tombstones, heads }: CrossCheckInput): RollbackFinding[] {
  const present = new Set(manifests);
  const accounted = new Set([...manifests, ...tombstones]);
  // Backup ids sort by start time.
  const newestPresent = [...present].sort().at(-1);
  const findings: RollbackFinding[] = [];

  for (const run of [...runs].sort((a, b) => b.backupId.localeCompare(a.backupId))) {
    if (accounted.has(run.backupId)) continue;
    findings.push({
      kind: 'backup-missing', backupId: run.backupId, workflowId: run.workflowId, runId: run.runId, closedAt: run.closedAt,
      newest: newestPresent === undefined || run.backupId > newestPresent,
    });
  }

  const ordered = [...heads].sort((a, b) => a.sequence - b.sequence);
  const bucketSequence = ordered.at(-1)?.sequence ?? null;
  const reported = runs.filter((run) => run.headSequence !== null).sort((a, b) => b.headSequence! - a.headSequence! || b.backupId.localeCompare(a.backupId));
  const highest = reported[0];
  if (highest && (bucketSequence === null || bucketSequence < highest.headSequence!)) {
    findings.push({ kind: 'head-backwards', temporalSequence: highest.headSequence!, bucketSequence, runId: highest.runId });
  }
  const bySequence = new Map<number, string[]>();
  for (const run of reported) bySequence.set(run.headSequence!, [...(bySequence.get(run.headSequence!) ?? []), run.runId]);
  for (const [sequence, runIds] of bySequence) if (runIds.length > 1) findings.push({ kind: 'head-reused', sequence, runIds });

  for (let i = 1; i < ordered.length; i += 1) {
    const [before, head] = [ordered[i - 1]!, ordered[i]!];
    if (head.sequence !== before.sequence + 1) findings.push({ kind: 'head-gap', after: before.sequence, before: head.sequence });
    else if (head.previousHeadSha256 !== before.sha256) findings.push({ kind: 'head-chain-broken', sequence: head.sequence });
  }
  for (const head of ordered) {
    if (!accounted.has(head.backupId)) findings.push({ kind: 'head-names-missing-backup', sequence: head.sequence, backupId: head.backupId });
  }
  return findings;
}

/** One line per finding, for alerts, status and doctor. */
export function describeFinding(finding: RollbackFinding): string {
  switch (finding.kind) {
    case 'backup-missing':
      return `${finding.newest ? 'newest backup missing' : 'backup missing'}: ${finding.backupId} (run ${finding.runId} completed ${finding.closedAt ?? '?'}) has neither a trusted manifest nor a tombstone`;
    case 'head-backwards':
      return `head went backwards: run ${finding.runId} recorded head ${finding.temporalSequence}, the bucket's newest trusted head is ${finding.bucketSequence ?? 'none'}`;
    case 'head-reused':
      return `head went backwards: head ${finding.sequence} was recorded by ${finding.runIds.length} runs (${finding.runIds.join(', ')})`;
    case 'head-gap':
      return `head went backwards: heads ${finding.after + 1}..${finding.before - 1} are missing`;
    case 'head-chain-broken':
      return `head ${finding.sequence} does not chain to head ${finding.sequence - 1}`;
    case 'head-names-missing-backup':
      return `head ${finding.sequence} names backup ${finding.backupId}, which has neither a trusted manifest nor a tombstone`;
  }
}
