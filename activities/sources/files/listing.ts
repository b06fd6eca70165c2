/**
 * One member of a tar archive as GNU tar lists it. Names are byte strings: each char of `path`
 * and `target` is one byte (latin1), so any name — spaces, newlines, invalid UTF-8 — compares exactly.
 */
export interface ListedEntry {
  /** The first char of tar's mode string: - d l h c b p S (sparse) C (contiguous), or another for an odd member. */
  type: string;
  mode: string;
  path: string;
  /** Symlinks: where they point; hard links: the member they link to. */
  target?: string;
}

/**
 * The arguments that make `tar --list` print one unambiguous line per member: every name in C
 * quotes with C escapes, and LC_ALL=C so that bytes outside ASCII are escaped too.
 */
export const listingArgs = ['--list', '--verbose', '--full-time', '--numeric-owner', '--quoting-style=c', '--listed-incremental=/dev/null'];
export const listingEnv = { LC_ALL: 'C' };

const quoted = '"((?:[^"\\\\]|\\\\.)*)"';
// tar pads the columns (sizes, and times when some have fractions) with spaces; only the quoted names carry meaning.
const line = new RegExp(`^(\\S)(\\S{9}) +\\d+/\\d+ +\\S+ +\\d{4}-\\d\\d-\\d\\d +\\d\\d:\\d\\d(?::\\d\\d(?:\\.\\d+)?)? +${quoted}(?:( -> | link to )${quoted})?$`);

/** One line of the listing, or undefined when it is not a member line this parser knows. */
export function parseListingLine(text: string): ListedEntry | undefined {
  const match = line.exec(text);
  if (!match) return undefined;
  const [, type, rest, path, arrow, target] = match;
  const entry: ListedEntry = { type: type!, mode: type! + rest!, path: unquote(path!) };
  if (arrow !== undefined) {
    // tar prints " -> " only for symlinks and " link to " only for hard links: anything else is a line we cannot trust.
    if ((arrow === ' -> ') !== (type === 'l') || (arrow === ' link to ') !== (type === 'h')) return undefined;
    entry.target = unquote(target!);
  } else if (type === 'l' || type === 'h') {
    return undefined;
  }
  return entry;
}

const escapes: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"', '?': '?' };

/** Undoes C quoting: each \ooo is one byte. */
export function unquote(text: string): string {
  return text.replace(/\\([0-7]{1,3}|.)/g, (_, code: string) => {
    if (/^[0-7]/.test(code)) return String.fromCharCode(parseInt(code, 8) & 0xff);
    return escapes[code] ?? code;
  });
}

/** A byte-string name as an operator reads it in a message. */
export function shown(name: string): string {
  return JSON.stringify(Buffer.from(name, 'latin1').toString('utf8'));
}
