import type { Readable } from 'node:stream';

/**
 * Cuts a stream into parts of exactly sizeOf(n) bytes (the last one shorter), holding at most one
 * part plus one incoming chunk in memory.
 */
export async function* chunksOf(stream: Readable, sizeOf: (part: number) => number): AsyncGenerator<Buffer> {
  let part = 1;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const data of stream) {
    let chunk = data as Buffer;
    while (pendingBytes + chunk.length >= sizeOf(part)) {
      const take = sizeOf(part) - pendingBytes;
      pending.push(chunk.subarray(0, take));
      yield Buffer.concat(pending);
      chunk = chunk.subarray(take);
      pending = [];
      pendingBytes = 0;
      part += 1;
    }
    if (chunk.length > 0) {
      pending.push(chunk);
      pendingBytes += chunk.length;
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending);
}
