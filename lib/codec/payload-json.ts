import type { Payload } from '@temporalio/common';

// The codec server's wire form, as the Temporal UI and CLI send it: proto JSON of Payloads,
// `{ payloads: [{ metadata: { key: base64 }, data: base64 }] }`.

export interface JsonPayload {
  metadata?: Record<string, string> | null;
  data?: string | null;
}

export function payloadsFromJson(body: unknown): Payload[] {
  const payloads = (body as { payloads?: unknown } | null)?.payloads;
  if (!Array.isArray(payloads)) throw new TypeError('expected a JSON object { "payloads": [...] }');
  return payloads.map((item: JsonPayload, index) => {
    if (typeof item !== 'object' || item === null) throw new TypeError(`payloads[${index}]: expected an object`);
    const metadata = Object.fromEntries(Object.entries(item.metadata ?? {}).map(([key, value]) => {
      if (typeof value !== 'string') throw new TypeError(`payloads[${index}].metadata.${key}: expected base64 text`);
      return [key, Buffer.from(value, 'base64')];
    }));
    if (item.data != null && typeof item.data !== 'string') throw new TypeError(`payloads[${index}].data: expected base64 text`);
    return { metadata, data: Buffer.from(item.data ?? '', 'base64') };
  });
}

export function payloadsToJson(payloads: Payload[]): { payloads: JsonPayload[] } {
  return {
    payloads: payloads.map((payload) => ({
      metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value ?? new Uint8Array()).toString('base64')])),
      data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64'),
    })),
  };
}
