/** `ferry logs --tail N --since T`: the part of a run's logs to print, from the command line. */
import type { LogWindow } from '../routines/jobExecutor.js';
import { stringOption, type ParsedArgs } from './command.js';
import { UsageError } from './errors.js';

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * When `--since` means: a duration back from `now` (`90s`, `10m`, `1h30m`, `2d`), or a time
 * (`2026-12-01T18:30:00Z`, `2026-12-01 18:30` in local time, `2026-12-01`). Undefined when the text
 * is neither.
 */
export function parseSince(text: string, now: Date = new Date()): Date | undefined {
  const trimmed = text.trim();
  if (/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(trimmed)) {
    let ms = 0;
    for (const [, amount, unit] of trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) {
      ms += Number(amount) * UNIT_MS[unit!]!;
    }
    return new Date(now.getTime() - ms);
  }
  // A time: ISO 8601, with a space allowed for the T; a date alone is that day's start, local time.
  if (!/^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?$/.test(trimmed)) {
    return undefined;
  }
  const iso = trimmed.replace(' ', 'T');
  const time = Date.parse(iso.length === 10 ? `${iso}T00:00` : iso);
  return Number.isNaN(time) ? undefined : new Date(time);
}

/** The window `--tail` and `--since` ask for (mistakes are `UsageError`s quoting the input). */
export function logWindowFromArgs(args: ParsedArgs, now: Date = new Date()): LogWindow {
  const tailText = stringOption(args, 'tail');
  const sinceText = stringOption(args, 'since');
  let tail: number | undefined;
  if (tailText !== undefined) {
    if (!/^\d+$/.test(tailText)) {
      throw new UsageError(
        `logs: --tail expects a number of lines (0 or more), got ${JSON.stringify(tailText)}; e.g. --tail 100`,
        'logs',
      );
    }
    tail = Number(tailText);
  }
  let since: Date | undefined;
  if (sinceText !== undefined) {
    since = parseSince(sinceText, now);
    if (since === undefined) {
      throw new UsageError(
        `logs: --since expects a duration back from now (90s, 10m, 1h30m, 2d) or a time (2026-12-01T18:30:00Z, "2026-12-01 18:30"), got ${JSON.stringify(sinceText)}`,
        'logs',
      );
    }
  }
  return { ...(tail === undefined ? {} : { tail }), ...(since === undefined ? {} : { since }) };
}
