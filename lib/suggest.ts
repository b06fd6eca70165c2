// "Did you mean …" for names an operator types: sources, regions, config keys, commands.

/** Edit distance (insertions, deletions, substitutions, and swaps of neighbours: "stokcholm"). */
export function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = best;
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * The known names close enough to `typed` to be what was meant, closest first: within a third of
 * the name's length (at least 1, at most 3 edits), or differing only in case, or a prefix of one.
 */
export function nearMisses(typed: string, known: Iterable<string>): string[] {
  const lower = typed.toLowerCase();
  const limit = Math.min(3, Math.max(1, Math.floor(typed.length / 3)));
  return [...known]
    .map((name) => ({ name, distance: name.toLowerCase() === lower ? 0 : editDistance(lower, name.toLowerCase()) }))
    .filter(({ name, distance }) => distance <= limit || (lower.length >= 3 && name.toLowerCase().startsWith(lower)))
    .sort((x, y) => x.distance - y.distance || x.name.localeCompare(y.name))
    .map(({ name }) => name);
}

/** `did you mean "app-db"?`, or the list of what there is when nothing is close. */
export function didYouMean(typed: string, known: readonly string[], what: string): string {
  const near = nearMisses(typed, known);
  if (near.length > 0) return `did you mean ${near.slice(0, 3).map((name) => `"${name}"`).join(' or ')}?`;
  return known.length > 0 ? `${what} are: ${known.join(', ')}` : `the config has no ${what}`;
}
