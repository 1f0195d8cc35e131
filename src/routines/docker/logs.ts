import { StringDecoder } from 'node:string_decoder';
import type { JobLogs, LogStream } from '../jobExecutor.js';
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

/** Feeds a multiplexed log stream to `onLine`, one complete line at a time, per stream. */
export function lineDemuxer(onLine: (line: string, stream: LogStream) => void): {
  push(chunk: Buffer): void;
  end(): void;
} {
  const splitters = {
    stdout: new LineSplitter((line) => onLine(line, 'stdout')),
    stderr: new LineSplitter((line) => onLine(line, 'stderr')),
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

/** Told each line; a returned promise holds back the lines after it until it settles. */
export type LineHandler = (line: string, stream: LogStream) => unknown;

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
  const lines: [string, LogStream][] = [];
  const demuxer = lineDemuxer((line, from) => lines.push([line, from]));
  const deliver = async (): Promise<void> => {
    for (const [line, from] of lines.splice(0)) {
      const held = onLine(line, from);
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
