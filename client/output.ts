import { LifeboatError } from '../lib/errors';

export interface Output {
  json: boolean;
  /** The command's result: a JSON document with --json, else the human text. */
  result(value: unknown, text: string): void;
  /** Progress and notes for humans; stderr, so stdout stays one JSON document with --json. */
  note(text: string): void;
}

export function output(json: boolean): Output {
  return {
    json,
    result(value, text) {
      process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
    },
    note(text) {
      process.stderr.write(`${text}\n`);
    },
  };
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}

export function usage(message: string, hint?: string): LifeboatError {
  return new LifeboatError('Usage', message, hint);
}
