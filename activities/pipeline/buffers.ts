import { readAll } from '../storage/backend';
import { decodeSteps, encodeSteps } from './encode';
import { startPipeline } from './processes';

/** Small objects (tar's incremental state) take the same zstd + age path as the data. */
export async function encryptBuffer(data: Buffer, compression: { level: number; threads: number }, recipients: string[], what: string): Promise<Buffer> {
  return transform(data, encodeSteps(compression, recipients, what));
}

export async function decryptBuffer(data: Buffer, identityFile: string, what: string): Promise<Buffer> {
  return transform(data, decodeSteps(identityFile, what));
}

async function transform(data: Buffer, steps: ReturnType<typeof encodeSteps>): Promise<Buffer> {
  const running = startPipeline(steps, 'pipe');
  running.input!.end(data);
  const [output] = await Promise.all([readAll(running.output), running.finished]);
  return output;
}
