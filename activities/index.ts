import { alertCheckActivities } from './alert-checks';
import { alertActivities } from './alerts';
import { backupActivities } from './backup';
import { failoverActivities } from './failover';
import type { Deps } from './deps';
import { withFailures } from './failures';
import { hostQueueActivities } from './host-queue';
import { stallTimeoutMs, watchedActivity } from './progress';
import { restoreActivities } from './restore';
import { retentionActivities } from './retention';
import { retentionPageActivities } from './retention-pages';
import { rollbackActivities } from './rollback';
import { syncActivities } from './sync';
import { syncBatchActivities } from './sync-batch';
import { syncPlanActivities } from './sync-plan';
import { verifyActivities } from './verify';
import { verifyRestoreActivities } from './verify-restore';
import { walActivities } from './wal';

/** Every activity, bound to the worker's dependencies and mapped to typed Temporal failures. */
export function createActivities(deps: Deps) {
  const backup = backupActivities(deps);
  const restore = restoreActivities(deps);
  const alerts = alertActivities(deps);
  const alertChecks = alertCheckActivities(deps);
  const sync = syncActivities(deps);
  const syncPlan = syncPlanActivities(deps);
  const syncBatch = syncBatchActivities(deps, sync);
  const retention = retentionActivities(deps);
  const wal = walActivities(deps);
  const retentionPages = retentionPageActivities(deps, retention, wal.pruneWal);
  const verify = verifyActivities(deps);
  const verifyRestore = verifyRestoreActivities(deps);
  const failover = failoverActivities(deps);
  const rollback = rollbackActivities(deps);
  const host = hostQueueActivities(deps.config);
  const sourceAttempts = deps.config.temporal.sourceAttempts;
  // Catalog scans, deletes and manifest writes grow with the catalog: they heartbeat from their first line (item 11).
  const stallMs = stallTimeoutMs(deps.config);
  const long = <A extends unknown[], R>(name: string, fn: (...args: A) => Promise<R>) => watchedActivity(name, stallMs, fn);
  return {
    planBackup: withFailures(backup.planBackup),
    hostTaskQueue: withFailures(host.hostTaskQueue),
    snapshotToStorage: withFailures(backup.snapshotToStorage, { sourceAttempts }),
    writeManifest: withFailures(long('writeManifest', backup.writeManifest)),
    discardUnfinishedBackup: withFailures(long('discardUnfinishedBackup', backup.discardUnfinishedBackup)),
    writeHead: withFailures(long('writeHead', rollback.writeHead)),
    checkRollback: withFailures(long('checkRollback', rollback.checkRollback)),
    resolveBackup: withFailures(long('resolveBackup', restore.resolveBackup)),
    restoreBackupTo: withFailures(restore.restoreBackupTo, { sourceAttempts }),
    alertChannels: withFailures(alerts.alertChannels),
    sendAlert: withFailures(alerts.sendAlert),
    assessBackup: withFailures(long('assessBackup', alertChecks.assessBackup)),
    newestBackups: withFailures(long('newestBackups', alertChecks.newestBackups)),
    planSync: withFailures(sync.planSync),
    compareRegions: withFailures(long('compareRegions', sync.compareRegions)),
    planRegionCopies: withFailures(long('planRegionCopies', syncPlan.planRegionCopies)),
    readCopyPage: withFailures(syncPlan.readCopyPage),
    discardCopyPlan: withFailures(syncPlan.discardCopyPlan),
    copyObject: withFailures(sync.copyObject),
    copyBackups: withFailures(long('copyBackups', syncBatch.copyBackups)),
    publishManifest: withFailures(long('publishManifest', sync.publishManifest)),
    discardPartialCopy: withFailures(long('discardPartialCopy', sync.discardPartialCopy)),
    planRetention: withFailures(long('planRetention', retention.planRetention)),
    deleteBackup: withFailures(long('deleteBackup', retention.deleteBackup)),
    removeOrphanedData: withFailures(long('removeOrphanedData', retention.removeOrphanedData)),
    extendLock: withFailures(long('extendLock', retention.extendLock)),
    planRetentionStored: withFailures(long('planRetentionStored', retentionPages.planRetentionStored)),
    applyRetentionPage: withFailures(long('applyRetentionPage', retentionPages.applyRetentionPage)),
    discardRetentionPlan: withFailures(long('discardRetentionPlan', retentionPages.discardRetentionPlan)),
    planVerify: withFailures(verify.planVerify),
    pickBackupToVerify: withFailures(long('pickBackupToVerify', verify.pickBackupToVerify)),
    verifyIntegrity: withFailures(verify.verifyIntegrity),
    writeVerifyRecord: withFailures(long('writeVerifyRecord', verify.writeVerifyRecord)),
    restoreLevelCheck: withFailures(verifyRestore.restoreLevelCheck),
    cleanupScratch: withFailures(verifyRestore.cleanupScratch),
    failoverSettings: withFailures(failover.failoverSettings),
    failoverPreflight: withFailures(failover.failoverPreflight),
    failoverUnpin: withFailures(failover.failoverUnpin),
    failoverRestore: withFailures(failover.failoverRestore),
    failoverVerify: withFailures(failover.failoverVerify),
    failoverTeardown: withFailures(failover.failoverTeardown),
    runFailoverHook: withFailures(failover.runFailoverHook),
    planWal: withFailures(wal.planWal),
    spoolProblem: withFailures(long('spoolProblem', wal.spoolProblem)),
    shipWalFiles: withFailures(wal.shipWalFiles),
    walRegionStatus: withFailures(long('walRegionStatus', wal.walRegionStatus)),
    pruneWal: withFailures(long('pruneWal', wal.pruneWal)),
    pruneWalByPlan: withFailures(long('pruneWalByPlan', retentionPages.pruneWalByPlan)),
  };
}

export type Activities = ReturnType<typeof createActivities>;
