import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { configSchema } from '../lib/config/schema';

// docs/configuration.md and docs/config.schema.json, both from lib/config/schema.ts, so that the
// reference cannot drift from what the loader accepts. `npm run docs:config` rewrites them;
// test/config-reference.test.ts fails while they are stale.

export const referencePaths = {
  markdown: 'docs/configuration.md',
  jsonSchema: 'docs/config.schema.json',
} as const;

interface Node {
  type?: string;
  description?: string;
  default?: unknown;
  const?: unknown;
  enum?: unknown[];
  format?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  properties?: Record<string, Node>;
  required?: string[];
  additionalProperties?: Node | boolean;
  items?: Node;
  anyOf?: Node[];
  oneOf?: Node[];
  'x-type'?: string;
}

export function configJsonSchema(): Record<string, unknown> {
  const { $schema, ...rest } = z.toJSONSchema(configSchema, { io: 'input' }) as Record<string, unknown>;
  return {
    $schema,
    // A URN rather than a web address: the schema is used from the checkout, not fetched.
    $id: 'urn:lifeboat:config',
    title: 'Lifeboat configuration (lifeboat.yaml)',
    description: 'Generated from lib/config/schema.ts by `npm run docs:config`; the reference is docs/configuration.md.',
    ...rest,
  };
}

// Record keys are names the user picks; the placeholder says which kind of name.
const placeholders: Record<string, string> = { regions: 'region', sources: 'source', targets: 'source', tablespaces: 'tablespace' };

// The largest safe integer is zod's bound for z.int(), not a limit anyone set.
const unbounded = (n: number | undefined) => n === undefined || Math.abs(n) >= Number.MAX_SAFE_INTEGER;

const code = (text: string) => `\`${text}\``;

function members(node: Node): Node[] {
  return node.oneOf ?? node.anyOf ?? [];
}

const isRecord = (node: Node) => node.properties === undefined && typeof node.additionalProperties === 'object';

function typeOf(node: Node): string {
  if (node['x-type']) return node['x-type'];
  if (node.const !== undefined) return code(String(node.const));
  if (node.enum) return `one of ${node.enum.map((v) => code(String(v))).join(', ')}`;
  const options = members(node);
  if (options.length > 0) {
    const tag = discriminator(options);
    if (tag) return `object, by ${code(tag)}: ${options.map((o) => code(String(o.properties![tag]!.const))).join(', ')}`;
    const kinds = [...new Set(options.map((o) => (o.type === 'object' ? 'object' : typeOf(o))))];
    return kinds.join(' or ');
  }
  switch (node.type) {
    case 'boolean':
      return 'boolean';
    case 'integer':
    case 'number': {
      const lo = unbounded(node.minimum) ? undefined : node.minimum;
      const hi = unbounded(node.maximum) ? undefined : node.maximum;
      return `${node.type}${lo !== undefined && hi !== undefined ? ` ${lo}–${hi}` : lo !== undefined ? ` ≥ ${lo}` : hi !== undefined ? ` ≤ ${hi}` : ''}`;
    }
    case 'string':
      return node.format === 'uri' ? 'URL' : 'string';
    case 'array':
      return `list of ${node.items ? plural(typeOf(node.items)) : 'values'}${node.minItems ? ` (at least ${node.minItems})` : ''}`;
    case 'object':
      return isRecord(node) ? `map: name → ${typeOf(node.additionalProperties as Node)}` : 'object';
    default:
      return 'any';
  }
}

function plural(type: string): string {
  if (type === 'string') return 'strings';
  return type === 'object' || type.startsWith('object,') ? type.replace(/^object/, 'objects') : type;
}

function discriminator(options: Node[]): string | undefined {
  const first = options[0]?.properties;
  if (!first) return undefined;
  return Object.keys(first).find((key) => options.every((o) => o.properties?.[key]?.const !== undefined));
}

function showDefault(node: Node): string {
  if (!('default' in node)) return '—';
  const value = node.default;
  if (typeof value === 'string') return value === '' ? code('""') : code(value);
  return code(JSON.stringify(value));
}

/** Table cells: one line, no stray pipes, and no `<name>` read as HTML outside code spans. */
function cell(text: string): string {
  return text.replace(/\s+/g, ' ').trim().split('`')
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/</g, '&lt;').replace(/>/g, '&gt;')))
    .join('`').replace(/\|/g, '\\|');
}

interface Table {
  path: string;
  label?: string;
  description?: string;
  rows: string[][];
}

function objectTable(node: Node, path: string, label?: string, description?: string): Table {
  const required = new Set(node.required ?? []);
  const rows = Object.entries(node.properties ?? {}).map(([key, child]) => [
    code(path ? `${path}.${key}` : key), cell(typeOf(child)), required.has(key) ? 'yes' : 'no', showDefault(child), cell(child.description ?? ''),
  ]);
  return { path, ...(label ? { label } : {}), ...(description ? { description } : {}), rows };
}

/** The tables below a value: its own (an object's, or each object a union allows), then those of its children. */
function tablesOf(node: Node, path: string, key: string): Table[] {
  if (node.properties) return [objectTable(node, path, undefined, node.description), ...childTables(node, path)];
  if (isRecord(node)) return tablesOf(node.additionalProperties as Node, `${path}.<${placeholders[key] ?? 'name'}>`, key);
  if (node.type === 'array' && node.items) return tablesOf(node.items, `${path}[]`, key);
  const objects = members(node).filter((m) => m.properties);
  if (objects.length === 0) return [];
  const tag = discriminator(objects);
  const labelOf = (m: Node) => (tag ? `${tag}: ${m.properties![tag]!.const}`
    : objects.length === 1 ? 'as an object' : Object.keys(m.properties!).filter((k) => (m.required ?? []).includes(k) && k !== 'name').join(' + '));
  return [
    ...objects.map((m) => objectTable(m, path, labelOf(m), m.description ?? node.description)),
    ...objects.flatMap((m) => childTables(m, path)),
  ];
}

function childTables(node: Node, path: string): Table[] {
  return Object.entries(node.properties ?? {}).flatMap(([key, child]) => tablesOf(child, path ? `${path}.${key}` : key, key));
}

function renderTable(table: Table, level: number): string {
  const heading = `${'#'.repeat(level)} ${code(table.path)}${table.label ? ` (${table.label})` : ''}`;
  const lines = [heading, ''];
  if (table.description) lines.push(cell(table.description), '');
  lines.push('| Key | Type | Required | Default | Description |', '|---|---|---|---|---|');
  for (const row of table.rows) lines.push(`| ${row.join(' | ')} |`);
  return lines.join('\n');
}

export function configMarkdown(schema: Record<string, unknown> = configJsonSchema()): string {
  const root = schema as Node;
  const parts = [header, renderTable({ ...objectTable(root, ''), path: '(top level)' }, 2).replace(/^## `\(top level\)`/, '## Top level')];
  for (const [key, child] of Object.entries(root.properties ?? {})) {
    const tables = tablesOf(child, key, key);
    if (tables.length === 0) continue;
    // Kinds of source share their schedule, retention and verify blocks: each table once.
    const seen = new Set<string>();
    const unique = tables.filter((t) => {
      const id = JSON.stringify([t.path, t.label, t.rows]);
      return seen.has(id) ? false : (seen.add(id), true);
    });
    // The block's own table says what the section is about; a map's section says it here.
    const intro = unique[0]?.path === key ? '' : `\n\n${cell(child.description ?? '')}`;
    parts.push(`## ${key}${intro}`, ...unique.map((t) => renderTable(t, 3)));
  }
  parts.push(environment);
  return `${parts.join('\n\n')}\n`;
}

const header = `# Configuration reference

<!-- Generated from lib/config/schema.ts by \`npm run docs:config\`: edit the schema's descriptions, not this file. -->

Lifeboat reads one YAML file: \`--config FILE\`, else \`$LIFEBOAT_CONFIG\`, else \`./lifeboat.yaml\`.
It is validated when it is loaded; every problem is reported with its key, what was expected and
what was found. Unknown keys are errors (a misspelt key would otherwise be silently ignored).

**Editor support.** [config.schema.json](config.schema.json) is the same schema as JSON Schema.
With the YAML language server (VS Code's YAML extension, Neovim, Helix, …) put this first line in
your config, with the path to your checkout's \`docs/config.schema.json\` (relative to the YAML file, or a URL):

\`\`\`yaml
# yaml-language-server: $schema=./docs/config.schema.json
\`\`\`

[lifeboat.example.yaml](lifeboat.example.yaml) is a complete example that starts with that line.

How to read the tables:

- **Key** is the full path; \`<region>\`, \`<source>\` and \`<name>\` stand for names you choose, and \`[]\` for each item of a list.
- **Required** is within its block: a required key of an optional block is needed only when that block is given.
- **Default** is the value taken when the key is left out; a block with default \`{}\` may be left out whole.
- Names (regions, sources) are lower-case letters, digits and dashes. Durations are a number and a unit: \`ms\`, \`s\`, \`m\`, \`h\` or \`d\` (\`90s\`, \`6h\`, \`7d\`).
- Secrets are never written in the config: a key ending in \`Env\` names an environment variable and one ending in \`File\` names a file, read by the process that needs it.`;

const environment = `## Environment variables

Read by the CLI (\`lifeboat …\`) and the worker (\`lifeboat worker\`), besides the variables the config names (\`passwordEnv\`, \`urlEnv\`, \`secretEnv\`, …).

| Variable | Read by | Meaning |
|---|---|---|
| \`LIFEBOAT_CONFIG\` | CLI, worker | The config file when \`--config\` is not given; default \`./lifeboat.yaml\`. |
| \`TEMPORAL_ADDRESS\` | CLI, worker | Overrides \`temporal.address\`; the CLI's \`--address\` overrides both. |
| \`TEMPORAL_NAMESPACE\` | CLI, worker | Overrides \`temporal.namespace\`; the CLI's \`--namespace\` overrides both. |
| \`TEMPORAL_API_KEY\` | CLI, worker | A Temporal Cloud API key; overrides \`temporal.apiKeyEnv\` and \`apiKeyFile\`, and turns TLS on. |
| \`TEMPORAL_TLS\` | CLI, worker | \`true\`/\`1\` or \`false\`: TLS to Temporal on or off, over \`temporal.tls\`. |
| \`TEMPORAL_TLS_SERVER_CA_CERT_PATH\`, \`TEMPORAL_TLS_SERVER_CA_CERT_DATA\` | CLI, worker | The server's CA as a file or as PEM text; override \`temporal.tls.serverCaFile\`. |
| \`TEMPORAL_TLS_CLIENT_CERT_PATH\`, \`TEMPORAL_TLS_CLIENT_CERT_DATA\` | CLI, worker | mTLS client certificate; overrides \`temporal.tls.clientCertFile\`. |
| \`TEMPORAL_TLS_CLIENT_KEY_PATH\`, \`TEMPORAL_TLS_CLIENT_KEY_DATA\` | CLI, worker | mTLS client key; overrides \`temporal.tls.clientKeyFile\`. |
| \`TEMPORAL_TLS_SERVER_NAME\` | CLI, worker | The name the server's certificate must carry; overrides \`temporal.tls.serverName\`. |
| \`TEMPORAL_TLS_DISABLE_HOST_VERIFICATION\` | CLI, worker | Refused when true (a Config error): the SDK always verifies; set the server name instead. |
| \`TEMPORAL_CONFIG_FILE\` | — | Not read: Temporal's TOML profiles are not supported; use the variables above or the config. |
| \`LIFEBOAT_OPERATOR\` | CLI | Who asks, approves or aborts a failover (\`lifeboat failover … --by\`) when \`--by\` is not given; default: the OS user. |
| \`LIFEBOAT_TEMPORAL_UI\` | CLI | The Temporal UI's base URL in printed links; default \`http://localhost:8233\`. |
| \`NO_COLOR\` | CLI | When set, \`lifeboat status\` prints no colours. |
| \`LIFEBOAT_LOG_LEVEL\` | worker | \`TRACE\`, \`DEBUG\`, \`INFO\` (default), \`WARN\` or \`ERROR\`. |
| \`LIFEBOAT_BUILD_ID\` | worker | The build id under Worker Deployment Versioning (\`temporal.deployment\`); default: a hash of the workflow code. |
| \`LIFEBOAT_WORKFLOW_BUNDLE\` | worker | A workflow bundle built beforehand by worker/bundle.ts, instead of bundling at start (the test run uses it). |
| \`LIFEBOAT_CLI_BUNDLE\` | bin/lifeboat | A compiled CLI to run instead of dist/ (the test run uses it). |

A failover hook's \`command\` gets \`LIFEBOAT_FAILOVER_ID\`, \`LIFEBOAT_TARGET_REGION\`, \`LIFEBOAT_STEP\` (\`fence\`, \`cutover\` or \`undoCutover\`) and \`LIFEBOAT_DRILL\` (\`true\`/\`false\`).`;

export function configReference(): { markdown: string; jsonSchema: string } {
  const schema = configJsonSchema();
  return { markdown: configMarkdown(schema), jsonSchema: `${JSON.stringify(schema, null, 2)}\n` };
}

if (import.meta.url === pathToFileURL(resolve(process.argv[1] ?? '')).href) {
  const root = resolve(import.meta.dirname, '..');
  const { markdown, jsonSchema } = configReference();
  writeFileSync(resolve(root, referencePaths.markdown), markdown);
  writeFileSync(resolve(root, referencePaths.jsonSchema), jsonSchema);
  process.stdout.write(`wrote ${referencePaths.markdown} (${markdown.length} bytes) and ${referencePaths.jsonSchema} (${jsonSchema.length} bytes)\n`);
}
