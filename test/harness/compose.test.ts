import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { LIFEBOAT_SEARCH_ATTRIBUTES } from './temporal';

interface ComposeService {
  image?: string;
  ports?: string[];
  command?: string[];
}

// Docker cannot run here, so at least keep the file parseable and in step with the harness.
describe('docker-compose.temporal.yml', () => {
  const compose = parse(readFileSync(new URL('../../docker-compose.temporal.yml', import.meta.url), 'utf8')) as { services: Record<string, ComposeService> };

  it('publishes Temporal on 7233 and its UI on 8233, where the links lifeboat prints point', () => {
    expect(compose.services.temporal?.ports).toContain('7233:7233');
    expect(compose.services['temporal-ui']?.ports).toContain('8233:8080');
  });

  it('registers every Lifeboat search attribute as a Keyword', () => {
    const script = compose.services['temporal-setup']?.command?.join('\n') ?? '';
    expect(script).toContain('--type Keyword');
    for (const name of LIFEBOAT_SEARCH_ATTRIBUTES) expect(script).toContain(name);
  });
});
