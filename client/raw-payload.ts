import type { WorkflowClient } from '@temporalio/client';
import type { Payload } from '@temporalio/common';

/** A payload as it was before the client's codecs encoded it (decrypted), still in its converter's form. */
export async function decodedPayload(client: WorkflowClient, payload: Payload): Promise<Payload> {
  let payloads = [payload];
  // Codecs decode in the reverse of the order they encode.
  for (const codec of [...client.options.loadedDataConverter.payloadCodecs].reverse()) payloads = await codec.decode(payloads);
  return payloads[0]!;
}

/**
 * A payload read from a raw description (a pending activity's heartbeat details), through the
 * client's codec (encrypted payloads) and then its converter, as the SDK does for results.
 */
export async function fromRawPayload<T>(client: WorkflowClient, payload: Payload): Promise<T> {
  return client.options.loadedDataConverter.payloadConverter.fromPayload<T>(await decodedPayload(client, payload));
}
