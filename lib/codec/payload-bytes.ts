import type { Payload } from '@temporalio/common';

// A payload as the bytes of its protobuf message (temporal.api.common.v1.Payload: field 1 is
// map<string, bytes> metadata, field 2 is bytes data), the form the Temporal samples encrypt.
// Written out here because @temporalio/proto is not one of Lifeboat's dependencies.

export function payloadToBytes(payload: Payload): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of Object.entries(payload.metadata ?? {})) {
    const entry = Buffer.concat([field(1, Buffer.from(key, 'utf8')), field(2, Buffer.from(value ?? new Uint8Array()))]);
    parts.push(field(1, entry));
  }
  if (payload.data && payload.data.length > 0) parts.push(field(2, Buffer.from(payload.data)));
  return Buffer.concat(parts);
}

export function payloadFromBytes(bytes: Buffer): Payload {
  const metadata: Record<string, Uint8Array> = {};
  let data: Uint8Array = new Uint8Array();
  for (const [number, value] of fields(bytes)) {
    if (number === 1) {
      let key = '';
      let entryValue: Uint8Array = new Uint8Array();
      for (const [inner, innerValue] of fields(value)) {
        if (inner === 1) key = innerValue.toString('utf8');
        else if (inner === 2) entryValue = innerValue;
      }
      metadata[key] = entryValue;
    } else if (number === 2) {
      data = value;
    }
  }
  return { metadata, data };
}

function field(number: number, value: Buffer): Buffer {
  return Buffer.concat([varint((number << 3) | 2), varint(value.length), value]);
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** The length-delimited fields of a message; the other wire types are skipped. */
function* fields(bytes: Buffer): Generator<[number, Buffer]> {
  let at = 0;
  const readVarint = (): number => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (at >= bytes.length) throw new Error('truncated payload');
      const byte = bytes[at++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
    }
  };
  while (at < bytes.length) {
    const tag = readVarint();
    const wireType = tag & 7;
    if (wireType === 2) {
      const length = readVarint();
      if (at + length > bytes.length) throw new Error('truncated payload');
      yield [tag >>> 3, bytes.subarray(at, at + length)];
      at += length;
    } else if (wireType === 0) readVarint();
    else if (wireType === 1) at += 8;
    else if (wireType === 5) at += 4;
    else throw new Error(`unexpected protobuf wire type ${wireType}`);
  }
}
