import { setWorkflowOptions, workflowInfo } from '@temporalio/workflow';
import type { WorkflowDefinitionOptions } from '@temporalio/common';
import { shipWal } from './ship-wal';

// Worker Deployment Versioning (temporal.deployment, README "Upgrades"): a versioned worker pins every
// run to the build that started it (its default, worker/run.ts), so a backup, a verification or a
// failover awaiting approval finishes on the code it started with while older builds drain.
// A shipper never finishes: it moves to each new current build at its next workflow task, and
// changes to its code are guarded by patched() instead.

/**
 * Only a versioned worker may state a behaviour (the server refuses the task otherwise). An
 * unversioned worker has a build id too, but no deployment name.
 */
const autoUpgrade = (): WorkflowDefinitionOptions => (workflowInfo().currentDeploymentVersion?.deploymentName ? { versioningBehavior: 'AUTO_UPGRADE' } : {});

setWorkflowOptions(autoUpgrade, shipWal);
