import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { demuxLogs, followLogStream, lineDemuxer } from '../../src/routines/docker/logs.js';
import type { LogStream } from '../../src/routines/jobExecutor.js';
import { LineSplitter } from '../../src/routines/lineSplitter.js';

function frame(stream: 1 | 2, text: string | Buffer): Buffer {
  const payload = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe('Docker log demultiplexing', () => {
  it('keeps stdout and stderr apart', () => {
    const raw = Buffer.concat([frame(1, 'out 1\n'), frame(2, 'err 1\n'), frame(1, 'out 2\n')]);
    expect(demuxLogs(raw)).toEqual({ stdout: 'out 1\nout 2\n', stderr: 'err 1\n' });
  });

  it('handles frames and characters cut across chunks', () => {
    const euro = Buffer.from('€', 'utf8'); // 3 bytes
    const raw = Buffer.concat([
      frame(1, Buffer.concat([Buffer.from('price 5'), euro.subarray(0, 1)])),
      frame(1, Buffer.concat([euro.subarray(1), Buffer.from('\nnext')])),
      frame(2, 'oops\n'),
      frame(1, ' line\n'),
    ]);
    const lines: [string, LogStream][] = [];
    const demuxer = lineDemuxer((line, stream) => lines.push([line, stream]));
    for (let i = 0; i < raw.length; i += 5) demuxer.push(raw.subarray(i, i + 5));
    demuxer.end();
    expect(lines).toEqual([
      ['price 5€', 'stdout'],
      ['oops', 'stderr'],
      ['next line', 'stdout'],
    ]);
  });

  it('flushes a last line without a newline at the end', () => {
    const lines: string[] = [];
    const demuxer = lineDemuxer((line) => lines.push(line));
    demuxer.push(frame(1, 'no newline'));
    expect(lines).toEqual([]);
    demuxer.end();
    expect(lines).toEqual(['no newline']);
  });
});

describe('LineSplitter', () => {
  function split(chunks: string[], maxLineLength?: number): string[] {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line), maxLineLength);
    for (const chunk of chunks) splitter.push(chunk);
    splitter.flush();
    return lines;
  }

  it('joins lines cut across chunks and drops their newlines (LF and CRLF)', () => {
    expect(split(['a', 'b\r', '\nc\n\nd', 'e'])).toEqual(['ab', 'c', '', 'de']);
  });

  it('passes on a line longer than the limit in pieces of the limit, whether cut or whole', () => {
    expect(split(['abcdefghij\n'], 4)).toEqual(['abcd', 'efgh', 'ij']);
    expect(split(['ab', 'cd', 'ef', 'gh', 'ij', '\nk\n'], 4)).toEqual(['abcd', 'efgh', 'ij', 'k']);
  });

  it('keeps a line of exactly the limit whole, without an empty line after it', () => {
    expect(split(['abcd', '\n', 'efgh\n'], 4)).toEqual(['abcd', 'efgh']);
  });

  it('holds no more than the limit of a line that never ends (a progress bar redrawn with CR)', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line), 1000);
    for (let i = 0; i < 10_000; i++) splitter.push(`\r${String(i).padStart(5, '0')}%`);
    // 70,000 characters so far: 70 whole pieces passed on, the rest held.
    expect(lines.length).toBe(69);
    expect(lines.every((line) => line.length === 1000)).toBe(true);
    splitter.flush();
    expect(lines.join('').length).toBe(70_000);
  });
});

describe('following a log stream', () => {
  const stdoutLines = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) => frame(1, `line ${from + i}\n`));

  it('tells every line in order, per stream, and ends with the stream', async () => {
    const stream = new PassThrough();
    const seen: [string, LogStream][] = [];
    const following = followLogStream(stream, (line, from) => seen.push([line, from]));
    stream.write(Buffer.concat([frame(1, 'out 1\nout'), frame(2, 'err 1\n')]));
    stream.end(frame(1, ' 2\nlast, without a newline'));
    await following;
    expect(seen).toEqual([
      ['out 1', 'stdout'],
      ['err 1', 'stderr'],
      ['out 2', 'stdout'],
      ['last, without a newline', 'stdout'],
    ]);
  });

  it('reads no further while onLine holds it back with a promise (backpressure)', async () => {
    const stream = new PassThrough({ highWaterMark: 1024 });
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const seen: string[] = [];
    const following = followLogStream(stream, (line) => {
      seen.push(line);
      return line === 'line 1' ? held : undefined;
    });
    const frames = stdoutLines(1, 2000);
    // Written until the stream says to wait (false: that frame was taken, but no more should come).
    let accepted = 0;
    while (accepted < frames.length) if (!stream.write(frames[accepted++]!)) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Nothing after the held line was told, and the writer was told to wait: the follower did not
    // read the stream into memory meanwhile.
    expect(seen).toEqual(['line 1']);
    expect(accepted).toBeLessThan(frames.length);
    release();
    for (const f of frames.slice(accepted)) {
      if (!stream.write(f)) await new Promise((resolve) => stream.once('drain', resolve));
    }
    stream.end();
    await following;
    expect(seen).toEqual(frames.map((_, i) => `line ${i + 1}`));
  });

  it('stops when the signal aborts, and destroys the stream', async () => {
    const stream = new PassThrough();
    const stop = new AbortController();
    const seen: string[] = [];
    const following = followLogStream(
      stream,
      (line) => {
        seen.push(line);
        if (line === 'line 2') stop.abort();
      },
      stop.signal,
    );
    stream.write(Buffer.concat(stdoutLines(1, 3)));
    await following;
    expect(seen).toEqual(['line 1', 'line 2', 'line 3']);
    expect(stream.destroyed).toBe(true);
  });

  it('ends when the stream closes early (the engine went away) and rejects on a stream error', async () => {
    const closed = new PassThrough();
    const seen: string[] = [];
    const following = followLogStream(closed, (line) => seen.push(line));
    closed.write(frame(1, 'before the close\n'));
    await new Promise((resolve) => setTimeout(resolve, 5));
    closed.destroy();
    await following;
    expect(seen).toEqual(['before the close']);

    const failing = new PassThrough();
    const failed = followLogStream(failing, () => undefined);
    failing.destroy(new Error('socket hang up'));
    await expect(failed).rejects.toThrow('socket hang up');
  });
});
