import type { Config } from '../../lib/config/schema';
import { startWorkers } from '../../worker/run';
import type { Output } from '../output';

export async function workerCommand(config: Config, regions: string[], out: Output): Promise<void> {
  const chosen = regions.length > 0 ? regions : Object.keys(config.regions);
  const workers = await startWorkers(config, chosen);
  out.note(`lifeboat worker polling ${workers.taskQueues.join(', ')} on ${config.temporal.address} (Ctrl-C stops it)`);
  await workers.done;
}
