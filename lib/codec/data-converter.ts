import { fileURLToPath } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import type { Config } from '../config/schema';
import { AesGcmCodec } from './aes-gcm';
import { loadCodecKeys } from './keys';

/** The workflow bundle's failure converter too (worker/bundle.ts): workflow code fails with the same encoding. */
export const failureConverterPath = fileURLToPath(new URL('./failure-converter.cjs', import.meta.url));

/** For every Client and Worker: failure messages always in a payload, and payloads encrypted when temporal.codec is set. */
export function dataConverterOf(config: Config, env: NodeJS.ProcessEnv = process.env): DataConverter {
  const codec = config.temporal.codec;
  return { failureConverterPath, payloadCodecs: codec ? [new AesGcmCodec(loadCodecKeys(codec, env))] : [] };
}
