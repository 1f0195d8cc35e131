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
