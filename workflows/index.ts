// The worker bundles this file: every workflow Lifeboat runs is exported here.
export { backupSource } from './backup-source';
export { restoreBackup } from './restore-backup';
export { syncRegions } from './sync-regions';
export { applyRetention } from './apply-retention';
export { checkObjectives } from './check-objectives';
export { scheduledBackup } from './scheduled-backup';
export { verifyRestore } from './verify-restore';
export { drFailover } from './dr-failover';
export { scheduledDrill } from './scheduled-drill';
export { shipWal } from './ship-wal';
import './versioning';
