import { alertCheckActivities } from './alert-checks';
import { alertActivities } from './alerts';
import { backupActivities } from './backup';
import { failoverActivities } from './failover';
import type { Deps } from './deps';
import { withFailures } from './failures';
import { restoreActivities } from './restore';
import { retentionActivities } from './retention';
import { rollbackActivities } from './rollback';
import { syncActivities } from './sync';
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
  const retention = retentionActivities(deps);
  const verify = verifyActivities(deps);
  const verifyRestore = verifyRestoreActivities(deps);
  const failover = failoverActivities(deps);
  const wal = walActivities(deps);
  const rollback = rollbackActivities(deps);
  const sourceAttempts = deps.config.temporal.sourceAttempts;
  return {
    planBackup: withFailures(backup.planBackup),
    snapshotToStorage: withFailures(backup.snapshotToStorage, { sourceAttempts }),
    writeManifest: withFailures(backup.writeManifest),
    discardUnfinishedBackup: withFailures(backup.discardUnfinishedBackup),
    writeHead: withFailures(rollback.writeHead),
    checkRollback: withFailures(rollback.checkRollback),
    resolveBackup: withFailures(restore.resolveBackup),
    restoreBackupTo: withFailures(restore.restoreBackupTo, { sourceAttempts }),
    alertChannels: withFailures(alerts.alertChannels),
    sendAlert: withFailures(alerts.sendAlert),
    assessBackup: withFailures(alertChecks.assessBackup),
    newestBackups: withFailures(alertChecks.newestBackups),
    planSync: withFailures(sync.planSync),
    compareRegions: withFailures(sync.compareRegions),
    planRegionCopies: withFailures(syncPlan.planRegionCopies),
    readCopyPage: withFailures(syncPlan.readCopyPage),
    discardCopyPlan: withFailures(syncPlan.discardCopyPlan),
    copyObject: withFailures(sync.copyObject),
    publishManifest: withFailures(sync.publishManifest),
    discardPartialCopy: withFailures(sync.discardPartialCopy),
    planRetention: withFailures(retention.planRetention),
    deleteBackup: withFailures(retention.deleteBackup),
    removeOrphanedData: withFailures(retention.removeOrphanedData),
    extendLock: withFailures(retention.extendLock),
    planVerify: withFailures(verify.planVerify),
    pickBackupToVerify: withFailures(verify.pickBackupToVerify),
    verifyIntegrity: withFailures(verify.verifyIntegrity),
    writeVerifyRecord: withFailures(verify.writeVerifyRecord),
    restoreLevelCheck: withFailures(verifyRestore.restoreLevelCheck),
    cleanupScratch: withFailures(verifyRestore.cleanupScratch),
    failoverSettings: withFailures(failover.failoverSettings),
    failoverPreflight: withFailures(failover.failoverPreflight),
    failoverRestore: withFailures(failover.failoverRestore),
    failoverVerify: withFailures(failover.failoverVerify),
    failoverTeardown: withFailures(failover.failoverTeardown),
    runFailoverHook: withFailures(failover.runFailoverHook),
    planWal: withFailures(wal.planWal),
    shipWalFiles: withFailures(wal.shipWalFiles),
    walRegionStatus: withFailures(wal.walRegionStatus),
    pruneWal: withFailures(wal.pruneWal),
  };
}

export type Activities = ReturnType<typeof createActivities>;
