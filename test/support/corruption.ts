/** What a damaged object looks like; `mutate` gets the stored bytes and another backup's object. */
export interface Corruption {
  name: string;
  /** The cause the error must name. */
  cause: RegExp;
  mutate(bytes: Buffer, other: Buffer): Buffer;
}

/** A small seeded generator (mulberry32), so a failing offset can be replayed from the printed seed. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `flips` bytes flipped at seeded offsets spread over the whole object (the age header, the first
 * chunk and the last included when there are enough), then truncation, one appended byte, another
 * backup's object in its place, and a damaged recipient line in the age header.
 */
export function corruptions(size: number, flips: number, seed: number): Corruption[] {
  const next = random(seed);
  const offsets = new Set<number>();
  while (offsets.size < Math.min(flips, size)) offsets.add(Math.floor(next() * size));
  const flipped = [...offsets].sort((a, b) => a - b).map((offset): Corruption => ({
    name: `flip@${offset}`,
    cause: /SHA-256/,
    mutate: (bytes) => {
      const copy = Buffer.from(bytes);
      copy[offset]! ^= 1 << Math.floor(next() * 8);
      return copy;
    },
  }));
  return [
    ...flipped,
    { name: 'truncated', cause: /size: \d+ bytes, the manifest records/, mutate: (bytes) => bytes.subarray(0, bytes.length - Math.max(1, Math.floor(bytes.length / 3))) },
    { name: 'appended', cause: /size: more than the \d+ bytes/, mutate: (bytes) => Buffer.concat([bytes, Buffer.from([0x0a])]) },
    { name: 'swapped', cause: /SHA-256|size/, mutate: (_bytes, other) => other },
    {
      name: 'age-header',
      cause: /SHA-256/,
      mutate: (bytes) => {
        // "-> X25519 <ephemeral share>": damage the share, which age only notices as "no identity matched".
        const copy = Buffer.from(bytes);
        const at = copy.indexOf('-> X25519 ') + '-> X25519 '.length + 5;
        copy[at] = copy[at] === 0x41 ? 0x42 : 0x41;
        return copy;
      },
    },
  ];
}

export interface MatrixRow {
  source: string;
  size: number;
  corruption: string;
  verify: string;
  restore: string;
  ms: number;
}

/** The matrix as a Markdown table, one line per source and size with counts of detections. */
export function matrixTable(rows: MatrixRow[], seed: number): string {
  const groups = new Map<string, MatrixRow[]>();
  for (const row of rows) {
    const key = `${row.source} | ${row.size}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  const lines = [
    `corruption matrix (seed ${seed}): detected by verify --level integrity and by restore, each in one attempt`,
    '| source | object bytes | cases | verify detected | restore detected | kinds | ms per case |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const [key, group] of groups) {
    const ok = (field: 'verify' | 'restore') => group.filter((row) => row[field] === 'detected').length;
    const kinds = [...new Set(group.map((row) => row.corruption.replace(/@\d+$/, '')))].join(', ');
    const ms = Math.round(group.reduce((sum, row) => sum + row.ms, 0) / group.length);
    lines.push(`| ${key} | ${group.length} | ${ok('verify')}/${group.length} | ${ok('restore')}/${group.length} | ${kinds} | ${ms} |`);
  }
  const missed = rows.filter((row) => row.verify !== 'detected' || row.restore !== 'detected');
  for (const row of missed) lines.push(`MISSED ${row.source} ${row.size} ${row.corruption}: verify ${row.verify}; restore ${row.restore}`);
  return lines.join('\n');
}
