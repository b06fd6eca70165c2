import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
import { LifeboatError } from '../errors';
import type { CodecKeys } from './keys';
import { payloadFromBytes, payloadToBytes } from './payload-bytes';

// AES-256-GCM over the whole payload (its metadata too, so even the encoding is hidden). The key
// id travels in clear metadata so that keys can rotate: new payloads use the current key, and any
// configured key decrypts what it encrypted. The id is also the GCM associated data, so a payload
// cannot be passed off as encrypted under another key.

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const text = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

export class AesGcmCodec implements PayloadCodec {
  constructor(private readonly keys: CodecKeys) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.keys.keys.get(this.keys.current)!;
    return payloads.map((payload) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.from(this.keys.current));
      const sealed = Buffer.concat([iv, cipher.update(payloadToBytes(payload)), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: { [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: Buffer.from(this.keys.current) },
        data: sealed,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (text(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) return payload;
      const keyId = text(payload.metadata?.[KEY_ID_METADATA]);
      if (keyId === undefined) {
        throw new LifeboatError('PayloadKey', 'an encrypted payload carries no key id: it was not written by Lifeboat\'s codec', 'check which program wrote to this namespace');
      }
      const key = this.keys.keys.get(keyId);
      if (!key) {
        throw new LifeboatError('PayloadKey', `a payload is encrypted with codec key "${keyId}", which this process does not have (configured: ${[...this.keys.keys.keys()].join(', ')})`,
          `add key "${keyId}" to temporal.codec.keys: keep every old key configured for as long as histories encrypted with it are kept`);
      }
      const sealed = Buffer.from(payload.data ?? new Uint8Array());
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
        decipher.setAAD(Buffer.from(keyId));
        decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
        const plain = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
        return payloadFromBytes(plain);
      } catch {
        throw new LifeboatError('PayloadKey', `a payload does not decrypt with codec key "${keyId}": the key configured under that id is not the one it was encrypted with, or the payload was altered`,
          `check that temporal.codec key "${keyId}" holds the same bytes on every client and worker`);
      }
    });
  }
}
