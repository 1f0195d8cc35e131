import { StringDecoder } from 'node:string_decoder';
import { LogWindowNotAvailableError } from '../errors.js';
import type { JobLogs, LineEnding, LogStream, LogWindow } from '../jobExecutor.js';
import { LineSplitter } from '../lineSplitter.js';

/**
 * Splits Docker's multiplexed log stream (containers without a TTY): frames of an 8-byte header —
 * stream type (1 stdout, 2 stderr), three zero bytes, a big-endian length — and that many bytes.
 * Accepts chunks cut anywhere; decodes UTF-8 per stream so a character split across frames survives.
 */
export class DockerLogDemuxer {
  private pending: Buffer = Buffer.alloc(0);
  private readonly decoders = {
    stdout: new StringDecoder('utf8'),
    stderr: new StringDecoder('utf8'),
  };

  constructor(private readonly onText: (text: string, stream: LogStream) => void) {}

  push(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 8) {
      const kind = this.pending[0];
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < 8 + size) break;
      const payload = this.pending.subarray(8, 8 + size);
      this.pending = this.pending.subarray(8 + size);
      // stdin (0) never appears in logs; anything not stderr is treated as stdout.
      const stream: LogStream = kind === 2 ? 'stderr' : 'stdout';
      const text = this.decoders[stream].write(payload);
      if (text !== '') this.onText(text, stream);
    }
  }

  end(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const text = this.decoders[stream].end();
      if (text !== '') this.onText(text, stream);
    }
  }
}

/** stdout and stderr of a whole multiplexed log buffer. */
export function demuxLogs(buffer: Buffer): JobLogs {
  const out = { stdout: '', stderr: '' };
  const demuxer = new DockerLogDemuxer((text, stream) => (out[stream] += text));
  demuxer.push(buffer);
  demuxer.end();
  return out;
}

/**
 * Splits text into lines as `LineSplitter` does, and also at a carriage return that no `\n`
 * follows, so that a progress bar redrawn with `\r` is passed on at each redraw rather than once
 * its final newline comes. A `\r` at the end of a chunk waits for the next one (`\r\n` is a newline).
 */
export class CarriageLineSplitter {
  private readonly lines: LineSplitter;
  private ending: LineEnding = '\n';
  private heldReturn = false;

  constructor(onLine: (line: string, ending: LineEnding) => void) {
    this.lines = new LineSplitter((line) => onLine(line, this.ending));
  }

  push(chunk: string): void {
    let text = this.heldReturn ? `\r${chunk}` : chunk;
    this.heldReturn = text.endsWith('\r');
    if (this.heldReturn) text = text.slice(0, -1);
    let start = 0;
    for (const match of text.matchAll(/\r(?!\n)/g)) {
      this.pushEnded(`${text.slice(start, match.index)}\n`, '\r');
      start = match.index + 1;
    }
    this.lines.push(text.slice(start));
  }

  flush(): void {
    if (this.heldReturn) {
      this.heldReturn = false;
      this.pushEnded('\n', '\r');
    }
    this.lines.flush();
  }

  private pushEnded(text: string, ending: LineEnding): void {
    this.ending = ending;
    try {
      this.lines.push(text);
    } finally {
      this.ending = '\n';
    }
  }
}

/** Feeds a multiplexed log stream to `onLine`, one line (or `\r` redraw) at a time, per stream. */
export function lineDemuxer(
  onLine: (line: string, stream: LogStream, ending: LineEnding) => void,
): {
  push(chunk: Buffer): void;
  end(): void;
} {
  const splitters = {
    stdout: new CarriageLineSplitter((line, ending) => onLine(line, 'stdout', ending)),
    stderr: new CarriageLineSplitter((line, ending) => onLine(line, 'stderr', ending)),
  };
  const demuxer = new DockerLogDemuxer((text, stream) => splitters[stream].push(text));
  return {
    push: (chunk) => demuxer.push(chunk),
    end: () => {
      demuxer.end();
      splitters.stdout.flush();
      splitters.stderr.flush();
    },
  };
}

/** What the Docker API's log calls take for a window: `tail` and `since` (seconds, fractional). */
export function dockerLogWindow(window: LogWindow = {}): { tail?: number; since?: number } {
  return {
    ...(window.tail === undefined ? {} : { tail: window.tail }),
    // The engine's `since` takes seconds, with a fraction.
    ...(window.since === undefined ? {} : { since: window.since.getTime() / 1000 }),
  };
}

/** When a run ran, for telling whether logs without times fall in a `since` window. */
export interface RunSpan {
  readonly runId: string;
  readonly startedAt?: Date;
  readonly finishedAt?: Date;
}

/**
 * The part of logs kept as text (no time per line) that a window asks for: the last `tail` lines of
 * each stream; for `since`, all of them when the run started at or after it, none when it had ended
 * before it. A `since` inside the run cannot be told apart: a `LogWindowNotAvailableError`.
 */
export function windowLogs(logs: JobLogs, window: LogWindow, span: RunSpan): JobLogs {
  let windowed = logs;
  const since = window.since;
  if (since !== undefined) {
    const started = span.startedAt?.getTime();
    const finished = span.finishedAt?.getTime();
    if (finished !== undefined && finished < since.getTime()) return { stdout: '', stderr: '' };
    if (started === undefined || started < since.getTime()) {
      throw new LogWindowNotAvailableError(
        `run ${span.runId}: its logs were saved without a time per line, and --since ${since.toISOString()} falls inside the run (started ${span.startedAt?.toISOString() ?? 'at an unknown time'}); use --tail N instead`,
      );
    }
  }
  if (window.tail !== undefined) {
    windowed = {
      stdout: tailText(windowed.stdout, window.tail),
      stderr: tailText(windowed.stderr, window.tail),
    };
  }
  return windowed;
}

/** The last `count` lines of `text` (a final line without `\n` counts as one). */
export function tailText(text: string, count: number): string {
  if (count <= 0 || text === '') return '';
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  const lines = body.split('\n');
  if (lines.length <= count) return text;
  return `${lines.slice(-count).join('\n')}${text.endsWith('\n') ? '\n' : ''}`;
}

/**
 * Logs read with Docker's `timestamps` (each line starts `<RFC 3339 time> `), kept as they are so
 * that a window can be applied later: the lines at or after `since`, then the last `tail` of each
 * stream, without their times.
 */
export function windowTimedLogs(timed: JobLogs, window: LogWindow): JobLogs {
  const pick = (text: string): string => {
    const lines = (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n').filter(Boolean);
    const kept = lines.flatMap((line) => {
      const space = line.indexOf(' ');
      const time = Date.parse(line.slice(0, space));
      if (window.since !== undefined && !(time >= window.since.getTime())) return [];
      return [line.slice(space + 1)];
    });
    const tailed =
      window.tail === undefined ? kept : window.tail <= 0 ? [] : kept.slice(-window.tail);
    return tailed.length === 0 ? '' : `${tailed.join('\n')}\n`;
  };
  return { stdout: pick(timed.stdout), stderr: pick(timed.stderr) };
}

/** Told each line; a returned promise holds back the lines after it until it settles. */
export type LineHandler = (line: string, stream: LogStream, ending: LineEnding) => unknown;

/**
 * Follows a multiplexed log stream (`container.logs({ follow: true })`) to its end, or until
 * `signal` aborts, telling `onLine` each complete line in order. Memory stays bounded however much
 * the job prints: the stream is read one chunk at a time, and when `onLine` returns a promise (its
 * own output is full, as a pipe nobody reads fast is), reading waits for it. A stream that closes
 * before its end (the engine went away) ends the following, as the end of the logs does.
 */
export async function followLogStream(
  stream: NodeJS.ReadableStream,
  onLine: LineHandler,
  signal?: AbortSignal,
): Promise<void> {
  const lines: [string, LogStream, LineEnding][] = [];
  const demuxer = lineDemuxer((line, from, ending) => lines.push([line, from, ending]));
  const deliver = async (): Promise<void> => {
    for (const [line, from, ending] of lines.splice(0)) {
      const held = onLine(line, from, ending);
      if (isThenable(held)) await held;
    }
  };
  const destroy = (): void => {
    (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
  };
  // A function, not a narrowed value: the signal can abort while lines are delivered.
  const aborted = (): boolean => signal?.aborted === true;
  if (aborted()) {
    destroy();
    return;
  }
  signal?.addEventListener('abort', destroy, { once: true });
  try {
    for await (const chunk of stream) {
      demuxer.push(typeof chunk === 'string' ? Buffer.from(chunk, 'binary') : chunk);
      await deliver();
      if (aborted()) break;
    }
  } catch (error) {
    // Aborting destroys the stream, which ends the loop with an error that is the abort's own doing.
    if (!aborted() && !isPrematureClose(error)) throw error;
  } finally {
    signal?.removeEventListener('abort', destroy);
  }
  demuxer.end();
  await deliver();
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function isPrematureClose(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ERR_STREAM_PREMATURE_CLOSE';
}
