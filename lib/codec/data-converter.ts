import { join } from 'node:path';
import type { DataConverter } from '@temporalio/common';
import type { Config } from '../config/schema';
import { AesGcmCodec } from './aes-gcm';
import { loadCodecKeys } from './keys';
import { packageRoot } from '../package-root';

/**
 * The workflow bundle's failure converter too (worker/bundle.ts): workflow code fails with the same
 * encoding. From the package root, as the test run loads the CLI from a bundle elsewhere.
 */
export const failureConverterPath = join(packageRoot(), 'lib', 'codec', 'failure-converter.cjs');

/** For every Client and Worker: failure messages always in a payload, and payloads encrypted when temporal.codec is set. */
export function dataConverterOf(config: Config, env: NodeJS.ProcessEnv = process.env): DataConverter {
  const codec = config.temporal.codec;
  return { failureConverterPath, payloadCodecs: codec ? [new AesGcmCodec(loadCodecKeys(codec, env))] : [] };
}
