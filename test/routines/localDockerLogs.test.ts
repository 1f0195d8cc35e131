import { describe, expect, it } from 'vitest';
import { demuxLogs, lineDemuxer } from '../../src/routines/docker/logs.js';
import type { LogStream } from '../../src/routines/jobExecutor.js';

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
