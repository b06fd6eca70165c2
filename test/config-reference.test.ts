import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../lib/config/load';
import { configReference, referencePaths } from '../scripts/config-reference';

// docs/configuration.md and docs/config.schema.json are generated from lib/config/schema.ts; a
// schema change without `npm run docs:config` leaves them describing a config that no longer is.

const root = resolve(import.meta.dirname, '..');
const read = (path: string) => readFileSync(resolve(root, path), 'utf8');

interface Node {
  description?: string;
  properties?: Record<string, Node>;
  additionalProperties?: Node | boolean;
  items?: Node;
  anyOf?: Node[];
  oneOf?: Node[];
}

/** Every property's path, with `<name>` for a map's keys and `[]` for a list's items. */
function undescribed(node: Node, path: string): string[] {
  return [
    ...Object.entries(node.properties ?? {}).flatMap(([key, child]) => [
      ...(child.description?.trim() ? [] : [`${path}${key}`]),
      ...undescribed(child, `${path}${key}.`),
    ]),
    ...(typeof node.additionalProperties === 'object' ? undescribed(node.additionalProperties, `${path}<name>.`) : []),
    ...(node.items ? undescribed(node.items, `${path.replace(/\.$/, '')}[].`) : []),
    ...[...(node.anyOf ?? []), ...(node.oneOf ?? [])].flatMap((member) => undescribed(member, path)),
  ];
}

describe('configuration reference', () => {
  const generated = configReference();

  it('docs/configuration.md is current', () => {
    expect(read(referencePaths.markdown) === generated.markdown, `${referencePaths.markdown} is stale: run npm run docs:config`).toBe(true);
  });

  it('docs/config.schema.json is current', () => {
    expect(read(referencePaths.jsonSchema) === generated.jsonSchema, `${referencePaths.jsonSchema} is stale: run npm run docs:config`).toBe(true);
  });

  it('every key of the schema has a description', () => {
    const missing = undescribed(JSON.parse(generated.jsonSchema) as Node, '');
    expect(missing, 'give these keys a .describe() in lib/config/schema.ts, then run npm run docs:config').toEqual([]);
  });

  it('the example config is valid and names the JSON Schema for editors', () => {
    const text = read('docs/lifeboat.example.yaml');
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=./config.schema.json');
    const config = parseConfig(text, 'docs/lifeboat.example.yaml');
    expect(Object.keys(config.sources)).toEqual(['app-db', 'app-cluster', 'cache', 'uploads']);
  });

  it('the reference lists the environment variables the CLI and the worker read', () => {
    for (const name of ['LIFEBOAT_CONFIG', 'LIFEBOAT_OPERATOR', 'LIFEBOAT_TEMPORAL_UI', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_API_KEY', 'NO_COLOR']) {
      expect(generated.markdown).toContain(`\`${name}\``);
    }
  });
});
