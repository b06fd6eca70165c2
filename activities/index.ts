import { alertActivities } from './alerts';
import { backupActivities } from './backup';
import type { Deps } from './deps';
import { withFailures } from './failures';
import { restoreActivities } from './restore';

/** Every activity, bound to the worker's dependencies and mapped to typed Temporal failures. */
export function createActivities(deps: Deps) {
  const backup = backupActivities(deps);
  const restore = restoreActivities(deps);
  const alerts = alertActivities(deps);
  const sourceAttempts = deps.config.temporal.sourceAttempts;
  return {
    planBackup: withFailures(backup.planBackup),
    snapshotToStorage: withFailures(backup.snapshotToStorage, { sourceAttempts }),
    writeManifest: withFailures(backup.writeManifest),
    discardUnfinishedBackup: withFailures(backup.discardUnfinishedBackup),
    resolveBackup: withFailures(restore.resolveBackup),
    restoreBackupTo: withFailures(restore.restoreBackupTo, { sourceAttempts }),
    alertChannels: withFailures(alerts.alertChannels),
    sendAlert: withFailures(alerts.sendAlert),
  };
}

export type Activities = ReturnType<typeof createActivities>;
