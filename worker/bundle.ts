// Bundles the workflow code into one file. Run as its own short-lived process by the worker, so
// that webpack's few hundred MiB are returned to the system before the first backup starts.
import { writeFileSync } from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';
import { failureConverterPath } from '../lib/codec/data-converter';
import { workflowsPath } from './run';

const out = process.argv[2];
if (!out) throw new Error('usage: bundle.ts OUTFILE');
const { code } = await bundleWorkflowCode({
  workflowsPath,
  failureConverterPath,
  logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: console.warn, error: console.error },
});
writeFileSync(out, code);
