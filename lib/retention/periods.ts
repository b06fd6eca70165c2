// The calendar periods of GFS retention, counted in the operator's time zone: a backup taken at
// 23:30 UTC on a Sunday belongs to Monday (and to the next ISO week) in Stockholm.

export type Granularity = 'daily' | 'weekly' | 'monthly' | 'yearly';

export const granularities: Granularity[] = ['daily', 'weekly', 'monthly', 'yearly'];

export interface LocalDate {
  year: number;
  month: number;
  day: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The calendar date at instant `at` on a wall clock in `timezone`. */
export function localDate(at: Date, timezone: string): LocalDate {
  let format = formatters.get(timezone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: timezone, year: 'numeric', month: 'numeric', day: 'numeric' });
    formatters.set(timezone, format);
  }
  const date: LocalDate = { year: 0, month: 0, day: 0 };
  for (const part of format.formatToParts(at)) {
    if (part.type === 'year' || part.type === 'month' || part.type === 'day') date[part.type] = Number(part.value);
  }
  return date;
}

/** ISO 8601 week: weeks start on Monday; week 1 holds the year's first Thursday. */
export function isoWeek({ year, month, day }: LocalDate): { year: number; week: number } {
  const date = Date.UTC(year, month - 1, day);
  const weekday = new Date(date).getUTCDay() || 7;
  const thursday = new Date(date + (4 - weekday) * 86_400_000);
  const weekYear = thursday.getUTCFullYear();
  const week = Math.floor((thursday.getTime() - Date.UTC(weekYear, 0, 1)) / (7 * 86_400_000)) + 1;
  return { year: weekYear, week };
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** "2026-11-03", "2026-W44", "2026-11", "2026": labels that sort in time order within one granularity. */
export function periodOf(at: Date, timezone: string, granularity: Granularity): string {
  return periodOfDate(localDate(at, timezone), granularity);
}

/** The same label from a calendar date already worked out: a plan asks for up to four labels of each backup. */
export function periodOfDate(date: LocalDate, granularity: Granularity): string {
  switch (granularity) {
    case 'daily':
      return `${date.year}-${pad(date.month)}-${pad(date.day)}`;
    case 'weekly': {
      const { year, week } = isoWeek(date);
      return `${year}-W${pad(week)}`;
    }
    case 'monthly':
      return `${date.year}-${pad(date.month)}`;
    case 'yearly':
      return String(date.year);
  }
}
