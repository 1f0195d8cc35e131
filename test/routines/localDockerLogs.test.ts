import { describe, expect, it } from 'vitest';
import { toStatus } from '../../src/routines/docker/dockerJobRun.js';
import { containerName, labelFilter, runLabels } from '../../src/routines/docker/labels.js';
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

describe('container state → run status', () => {
  const base = {
    Status: 'exited',
    Running: false,
    Paused: false,
    Restarting: false,
    OOMKilled: false,
    Dead: false,
    Pid: 0,
    ExitCode: 0,
    Error: '',
    StartedAt: '2024-01-01T00:00:00Z',
    FinishedAt: '2024-01-01T00:01:00Z',
  };

  it('maps exit codes to exited, failed and stopped', () => {
    expect(toStatus('r', base)).toEqual({
      runId: 'r',
      state: 'exited',
      exitCode: 0,
      startedAt: new Date('2024-01-01T00:00:00Z'),
      finishedAt: new Date('2024-01-01T00:01:00Z'),
    });
    expect(toStatus('r', { ...base, ExitCode: 1 }).state).toBe('failed');
    expect(toStatus('r', { ...base, ExitCode: 143 }).state).toBe('stopped');
    expect(toStatus('r', { ...base, ExitCode: 137 }).state).toBe('stopped');
    expect(toStatus('r', { ...base, ExitCode: 137, OOMKilled: true }).state).toBe('failed');
  });

  it('reports running and created runs without an exit code or end', () => {
    const running = toStatus('r', {
      ...base,
      Status: 'running',
      Running: true,
      FinishedAt: '0001-01-01T00:00:00Z',
    });
    expect(running).toEqual({ runId: 'r', state: 'running', startedAt: new Date(base.StartedAt) });
    const created = toStatus('r', {
      ...base,
      Status: 'created',
      StartedAt: '0001-01-01T00:00:00Z',
      FinishedAt: '0001-01-01T00:00:00Z',
    });
    expect(created).toEqual({ runId: 'r', state: 'created' });
  });
});

describe('run labels and names', () => {
  it('names and labels a run', () => {
    expect(containerName('titanic', '20240101-000000-abcdef')).toBe(
      'ferry-titanic-20240101-000000-abcdef',
    );
    expect(runLabels({ name: 'j', version: '1.0.0', uid: 'j-1.0.0-x', runId: 'r1' })).toEqual({
      'ferry.job': 'j',
      'ferry.version': '1.0.0',
      'ferry.uid': 'j-1.0.0-x',
      'ferry.run-id': 'r1',
    });
    expect(JSON.parse(labelFilter({ 'ferry.run-id': 'r1' }))).toEqual({
      label: ['ferry.run-id=r1'],
    });
  });
});
