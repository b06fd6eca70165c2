import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';

// Registered on the Temporal server (the test harness and docker-compose do it) so operators can
// filter runs in the UI: LifeboatSource = "app-db".
export const sourceKey = defineSearchAttributeKey('LifeboatSource', SearchAttributeType.KEYWORD);
export const regionKey = defineSearchAttributeKey('LifeboatRegion', SearchAttributeType.KEYWORD);
export const kindKey = defineSearchAttributeKey('LifeboatKind', SearchAttributeType.KEYWORD);

export const searchAttributeNames = [sourceKey.name, regionKey.name, kindKey.name];

export function searchAttributes(values: { source: string; region: string; kind: string }): SearchAttributePair[] {
  return [
    { key: sourceKey, value: values.source },
    { key: regionKey, value: values.region },
    { key: kindKey, value: values.kind },
  ];
}
