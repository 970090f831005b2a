// How values read: times in the reader's own time zone, numbers grouped, and
// "—" for a value the API did not give.

export const NONE = "—";

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" });
const number = new Intl.NumberFormat();

export function when(iso: string | null | undefined): string {
  if (!iso) return NONE;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : dateTime.format(date);
}

/** A UTC day (YYYY-MM-DD), as a date. */
export function day(isoDay: string): string {
  return dateOnly.format(new Date(`${isoDay}T00:00:00Z`));
}

export function count(value: number | null | undefined): string {
  return value === null || value === undefined ? NONE : number.format(value);
}

export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return NONE;
  return value >= 10_000 ? `${number.format(Math.round(value / 100) / 10)} s` : `${number.format(Math.round(value))} ms`;
}

export function bytes(value: number): string {
  if (value < 1024) return `${value} B`;
  if (value < 1024 * 1024) return `${(value / 1024).toFixed(1)} KB`;
  return `${(value / 1024 / 1024).toFixed(1)} MB`;
}

/** "in 14 minutes", "in 40 seconds": how long to wait. */
export function waitFor(seconds: number): string {
  if (seconds >= 90) {
    const minutes = Math.ceil(seconds / 60);
    return `${minutes} minutes`;
  }
  return seconds === 1 ? "1 second" : `${seconds} seconds`;
}

/** Today's UTC day, and day arithmetic on YYYY-MM-DD strings. */
export function todayUtc(): string {
  return new Date().toISOString().slice(0, 10);
}

export function addDays(isoDay: string, days: number): string {
  const date = new Date(`${isoDay}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

export function isDay(value: string | null): value is string {
  return !!value && /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(Date.parse(`${value}T00:00:00Z`));
}

/** Comma-separated tags: trimmed, empty ones dropped, duplicates dropped. */
export function parseTags(text: string): string[] {
  return [...new Set(text.split(",").map((tag) => tag.trim()).filter(Boolean))];
}
