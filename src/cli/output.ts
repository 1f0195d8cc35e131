/**
 * What the CLI writes: results on stdout, everything else (progress, notes, errors) on stderr.
 * Progress is one line rewritten in place when stderr is a terminal, plain lines otherwise (logs,
 * CI), and nothing with `--quiet`. A run's streamed output goes through the same renderer, so that
 * the progress line is gone before a log line is written, and a job's `\r` redraws show as a
 * terminal shows them: live on a terminal, one line per redraw elsewhere.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { LineEnding, LogStream } from '../routines/jobExecutor.js';

export interface CliStreams {
  readonly stdout: Writable & { isTTY?: boolean };
  readonly stderr: Writable & { isTTY?: boolean; columns?: number };
}

export interface ProgressEvent {
  /** What is going on: `packaging`, `build`, `shipping`, `queue`… */
  readonly stage: string;
  readonly message: string;
  /** 0..1 when the work has a known size (a bar is drawn). */
  readonly fraction?: number;
  /** Shown in plain (non-terminal) mode even when repeated quickly; otherwise plain mode prints a stage's lines at most once a second. */
  readonly important?: boolean;
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** A single-line progress display on a terminal; plain, rate-limited lines elsewhere. */
export class Progress {
  private readonly tty: boolean;
  private shown = false;
  private frame = 0;
  private lastPlain = new Map<string, number>();
  private lastLine = '';
  private readonly started = Date.now();
  /** The stream a job's line redrawn with `\r` was last written to, still open on a terminal. */
  private openLine: Writable | undefined;

  constructor(
    private readonly stderr: CliStreams['stderr'],
    private readonly enabled: boolean,
    private readonly stdout?: CliStreams['stdout'],
  ) {
    this.tty = stderr.isTTY === true;
  }

  report(event: ProgressEvent): void {
    if (!this.enabled) return;
    const message = event.message.replace(/\s+/g, ' ').trim();
    if (this.tty) {
      // A job's progress bar drawn last stays as it was: the progress line goes below it.
      this.endOpenLine();
      const width = Math.max(20, (this.stderr.columns || 80) - 1);
      const spinner = SPINNER[this.frame++ % SPINNER.length];
      const bar = event.fraction === undefined ? '' : `${renderBar(event.fraction, 20)} `;
      const seconds = `${((Date.now() - this.started) / 1000).toFixed(0)}s`;
      const line = truncate(`${spinner} ${seconds} ${event.stage}: ${bar}${message}`, width);
      this.stderr.write(`\r\x1b[2K${line}`);
      this.shown = true;
      return;
    }
    const now = Date.now();
    const last = this.lastPlain.get(event.stage) ?? 0;
    const line = `ferry: ${event.stage}: ${event.fraction === undefined ? '' : `${Math.round(event.fraction * 100)}% `}${message}`;
    if (line === this.lastLine) return;
    // Plain mode shows what matters; other lines at most every 5 s per stage, to show life.
    if (!event.important && now - last < 5000) return;
    this.lastPlain.set(event.stage, now);
    this.lastLine = line;
    this.stderr.write(`${line}\n`);
  }

  /** Clears the progress line (terminal), so what follows starts on a clean line. */
  clear(): void {
    if (this.tty && this.shown) {
      this.stderr.write('\r\x1b[2K');
      this.shown = false;
    }
  }

  /** Ends a job's line left open by a `\r` redraw, so that the CLI's own lines start below it. */
  endOpenLine(): void {
    if (this.openLine === undefined) return;
    this.openLine.write('\n');
    this.openLine = undefined;
  }

  /** Writes a line to stderr above the progress line. */
  note(line: string): void {
    this.clear();
    this.endOpenLine();
    this.stderr.write(`${line}\n`);
  }

  /** Writes a result line to stdout. */
  out(line: string): void {
    this.clear();
    this.endOpenLine();
    this.stdout?.write(`${line}\n`);
  }

  /**
   * Writes one line of a run's output (stdout here, stderr to stderr) as a terminal shows it: the
   * progress line cleared first; a line that ended with a `\r` (a progress bar's redraw) ends with
   * one on a terminal, so the next redraw is drawn over it, and elsewhere (a pipe, a file, CI) is a
   * line of its own, as is every redraw inside a line. Returns a promise when the stream is full
   * (see `writeOrWait`).
   */
  logLine(
    streams: CliStreams,
    line: string,
    stream: LogStream,
    ending: LineEnding = '\n',
  ): Promise<unknown> | undefined {
    this.clear();
    const out = stream === 'stdout' ? streams.stdout : streams.stderr;
    if (this.openLine !== undefined && this.openLine !== out) this.endOpenLine();
    const text = renderLogLine(line, ending, out.isTTY === true);
    if (text === '') return undefined;
    this.openLine = out.isTTY === true && ending === '\r' ? out : undefined;
    return writeOrWait(out, text);
  }
}

/**
 * A job's line as it is written: on a terminal as it came (its `\r`s redraw it); elsewhere each
 * redraw (text between carriage returns) is a line of its own, and an empty redraw is dropped.
 */
export function renderLogLine(line: string, ending: LineEnding, tty: boolean): string {
  if (tty) return `${line}${ending}`;
  const redraws = line.split(/\r(?!\n)/).filter((part) => part !== '');
  if (redraws.length === 0) return ending === '\n' ? '\n' : '';
  return `${redraws.join('\n')}\n`;
}

function renderBar(fraction: number, width: number): string {
  const f = Math.min(1, Math.max(0, fraction));
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${String(Math.round(f * 100)).padStart(3)}%`;
}

function truncate(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return all
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export { formatBytes } from '../units.js';

/** `850ms`, `12.3s`, `4m05s`, `2h03m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/**
 * Writes `text`; when the stream's buffer is full, returns a promise that settles once it has
 * drained, for a caller (following a run's logs) that should wait rather than pile up output.
 */
export function writeOrWait(out: Writable, text: string): Promise<unknown> | undefined {
  if (out.write(text) || out.destroyed) return undefined;
  return once(out, 'drain');
}
