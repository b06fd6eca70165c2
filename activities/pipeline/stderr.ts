import type { Readable } from 'node:stream';

/** Warning lines a step keeps; the rest are counted. A manifest or an error stays small however chatty a tool is. */
export const KEEP_LINES = 200;
/** The end of stderr kept for error messages: a tool says why it stopped last. */
const TAIL_BYTES = 16 * 1024;
/** A single line longer than this is cut: one path can be 4 KiB. */
const LINE_CHARS = 1024;

/**
 * Reads a child's stderr to its end, however long, so the child never blocks on a full pipe nor is
 * killed for writing too much (tar prints one line per socket or changed file): keeps the first
 * KEEP_LINES lines, a count of the others, and the last bytes.
 */
export class StderrCollector {
  readonly lines: string[] = [];
  omitted = 0;
  private tail = '';
  private partial = '';

  constructor(stream: Readable | null | undefined, private readonly ignore?: RegExp) {
    stream?.setEncoding('utf8');
    stream?.on('data', (text: string) => this.add(text));
    stream?.on('end', () => this.flush());
  }

  private add(text: string): void {
    this.tail = (this.tail + text).slice(-TAIL_BYTES);
    const parts = (this.partial + text).split('\n');
    this.partial = parts.pop()!.slice(0, LINE_CHARS);
    for (const line of parts) this.keep(line);
  }

  private flush(): void {
    if (this.partial) this.keep(this.partial);
    this.partial = '';
  }

  private keep(line: string): void {
    if (!line || this.ignore?.test(line)) return;
    if (this.lines.length < KEEP_LINES) this.lines.push(line.slice(0, LINE_CHARS));
    else this.omitted += 1;
  }

  /** The last of stderr, for an error message. */
  text(): string {
    return this.tail;
  }

  /** The kept lines, then one that counts the rest. */
  warnings(tool: string): string[] {
    const named = this.lines.map((line) => (line.startsWith(`${tool}:`) ? line : `${tool}: ${line}`));
    return this.omitted > 0 ? [...named, omittedLine(tool, this.omitted)] : named;
  }
}

const omittedPattern = /: … (\d+) more warning line\(s\) not kept$/;

function omittedLine(tool: string, count: number): string {
  return `${tool}: … ${count} more warning line(s) not kept`;
}

/** How many warning lines a bounded list stands for: the kept ones plus those its last line counts. */
export function warningCount(warnings: string[]): number {
  return warnings.reduce((sum, line) => sum + (Number(omittedPattern.exec(line)?.[1] ?? 0) || 1), 0);
}
