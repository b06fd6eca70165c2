import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { LifeboatError } from '../errors';
import { redactUrls } from '../redact';
import { nearMisses } from '../suggest';
import { knownKeysAt } from './known-keys';
import { configSchema, type Config } from './schema';

export interface LoadedConfig {
  path: string;
  config: Config;
}

/** --config FILE, else $LIFEBOAT_CONFIG, else ./lifeboat.yaml. */
export function configPath(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(explicit ?? env.LIFEBOAT_CONFIG ?? 'lifeboat.yaml');
}

export function loadConfig(explicit?: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const path = configPath(explicit, env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new LifeboatError('Config', `cannot read config file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      'pass --config FILE or set LIFEBOAT_CONFIG');
  }
  const config = parseConfig(text, path);
  if (env.TEMPORAL_ADDRESS) config.temporal.address = env.TEMPORAL_ADDRESS;
  if (env.TEMPORAL_NAMESPACE) config.temporal.namespace = env.TEMPORAL_NAMESPACE;
  return { path, config };
}

export function parseConfig(text: string, origin = 'config'): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const where = first.linePos ? ` at line ${first.linePos[0].line}, column ${first.linePos[0].col}` : '';
    throw new LifeboatError('Config', `${origin}: not valid YAML${where}: ${(first.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}`, 'fix the YAML syntax at the line shown');
  }
  const result = configSchema.safeParse(doc.toJS(), { reportInput: true });
  if (!result.success) {
    const input: unknown = doc.toJS();
    const lines = result.error.issues.map((issue) => describeIssue(issue, input));
    throw new LifeboatError('Config', `${origin}: ${lines.length} problem${lines.length > 1 ? 's' : ''}:\n  ${lines.join('\n  ')}`,
      'see docs/configuration.md for every key');
  }
  return result.data;
}

function describeIssue(issue: z.core.$ZodIssue, root: unknown): string {
  const key = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
  const found = 'input' in issue ? show(issue.input) : 'nothing';
  switch (issue.code) {
    case 'unrecognized_keys':
    {
      const known = knownKeysAt(configSchema, issue.path, root);
      const guesses = issue.keys.flatMap((k) => nearMisses(k, known).slice(0, 1).map((near) => `"${near}" for "${k}"`));
      return `${key}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}${guesses.length > 0 ? ` (did you mean ${guesses.join(', ')}?)` : ''}`;
    }
    case 'invalid_type':
      return `${key}: expected ${issue.expected}, found ${issue.input === undefined ? 'nothing (the key is required)' : found}`;
    case 'invalid_value':
      return `${key}: expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}, found ${found}`;
    case 'invalid_union': {
      const field = 'discriminator' in issue && typeof issue.discriminator === 'string' ? issue.discriminator : undefined;
      if (field && field in discriminatorValues && typeof issue.input === 'object' && issue.input !== null) {
        const value = (issue.input as Record<string, unknown>)[field];
        const at = issue.path.at(-1) === field ? key : `${key}.${field}`;
        return `${at}: expected one of ${discriminatorValues[field]}, found ${show(value)}`;
      }
      return `${key}: expected one of the allowed shapes, found ${found}`;
    }
    default:
      return `${key}: expected ${issue.message.replace(/^Invalid input: /, '')}, found ${found}`;
  }
}

const discriminatorValues: Record<string, string> = { kind: 'postgres, redis, files', type: 's3, local' };

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  // A password typed into a URL must not be echoed into logs or terminals by the error about it.
  const text = redactUrls(JSON.stringify(value));
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
