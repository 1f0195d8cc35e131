/**
 * The progress renderer and log windows as pure logic: what a terminal and a pipe receive when
 * progress, notes and a job's streamed output (with `\r` redraws) mix.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseSince } from '../../src/cli/logWindow.js';
import { Progress, renderLogLine } from '../../src/cli/output.js';
import {
  CarriageLineSplitter,
  tailText,
  windowLogs,
  windowTimedLogs,
} from '../../src/routines/docker/logs.js';
import { LogWindowNotAvailableError } from '../../src/routines/errors.js';
import type { LineEnding } from '../../src/routines/jobExecutor.js';

/** A stream that keeps what was written, as a terminal (`isTTY`) or a pipe. */
function sink(tty: boolean): Writable & { isTTY: boolean; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  }) as Writable & { isTTY: boolean; text: () => string };
  stream.isTTY = tty;
  stream.text = () => text;
  return stream;
}

describe('the progress renderer', () => {
  it('on a terminal: clears the spinner before a log line and shows \\r redraws live', () => {
    const stdout = sink(true);
    const stderr = sink(true);
    const progress = new Progress(stderr, true, stdout);
    progress.report({ stage: 'ssh', message: 'connecting…' });
    progress.logLine({ stdout, stderr }, 'epoch 1 10%', 'stdout', '\r');
    progress.logLine({ stdout, stderr }, 'epoch 1 50%', 'stdout', '\r');
    progress.logLine({ stdout, stderr }, 'epoch 1 100%', 'stdout', '\n');
    progress.note('ferry: run x succeeded');
    // The spinner line was drawn then erased before the job's text, which starts a clean line.
    expect(stderr.text()).toBe(
      '\r\u001b[2K⠋ 0s ssh: connecting…\r\u001b[2Kferry: run x succeeded\n',
    );
    expect(stdout.text()).toBe('epoch 1 10%\repoch 1 50%\repoch 1 100%\n');
  });

  it("ends a job's open \\r line before the CLI's own lines, so neither overwrites the other", () => {
    const stdout = sink(true);
    const stderr = sink(true);
    const progress = new Progress(stderr, true, stdout);
    progress.logLine({ stdout, stderr }, 'downloading 42%', 'stdout', '\r');
    progress.note('ferry: detached');
    expect(stdout.text()).toBe('downloading 42%\r\n');
    expect(stderr.text()).toBe('ferry: detached\n');
  });

  it('elsewhere (a pipe, CI): one line per redraw, no control characters, no spinner', () => {
    const stdout = sink(false);
    const stderr = sink(false);
    const progress = new Progress(stderr, true, stdout);
    progress.report({ stage: 'ssh', message: 'connecting…', important: true });
    progress.logLine({ stdout, stderr }, 'epoch 1 10%', 'stdout', '\r');
    progress.logLine({ stdout, stderr }, '', 'stdout', '\r');
    progress.logLine({ stdout, stderr }, 'a\rb\rc', 'stdout', '\n');
    progress.logLine({ stdout, stderr }, '', 'stdout', '\n');
    expect(stdout.text()).toBe('epoch 1 10%\na\nb\nc\n\n');
    expect(stderr.text()).toBe('ferry: ssh: connecting…\n');
    expect(renderLogLine('a\rb', '\r', true)).toBe('a\rb\r');
  });

  it('splits at a lone \\r, keeps \\r\\n a newline, and waits for the next chunk on a final \\r', () => {
    const seen: [string, LineEnding][] = [];
    const splitter = new CarriageLineSplitter((line, ending) => seen.push([line, ending]));
    splitter.push('step 1\rstep');
    splitter.push(' 2\r');
    expect(seen).toEqual([['step 1', '\r']]);
    splitter.push('\ndone\r\nlast');
    splitter.flush();
    expect(seen).toEqual([
      ['step 1', '\r'],
      ['step 2', '\n'],
      ['done', '\n'],
      ['last', '\n'],
    ]);
  });
});

describe('log windows', () => {
  const logs = { stdout: 'a\nb\nc\n', stderr: 'x\ny' };
  const span = {
    runId: 'r1',
    startedAt: new Date('2026-12-01T10:00:00Z'),
    finishedAt: new Date('2026-12-01T11:00:00Z'),
  };

  it('tails each stream of saved text', () => {
    expect(windowLogs(logs, { tail: 2 }, span)).toEqual({ stdout: 'b\nc\n', stderr: 'x\ny' });
    expect(windowLogs(logs, { tail: 0 }, span)).toEqual({ stdout: '', stderr: '' });
    expect(tailText('a\nb\n', 5)).toBe('a\nb\n');
  });

  it('gives all or nothing of untimed text for a since outside the run, and refuses one inside', () => {
    expect(windowLogs(logs, { since: new Date('2026-12-01T09:00:00Z') }, span)).toEqual(logs);
    expect(windowLogs(logs, { since: new Date('2026-12-01T12:00:00Z') }, span)).toEqual({
      stdout: '',
      stderr: '',
    });
    expect(() => windowLogs(logs, { since: new Date('2026-12-01T10:30:00Z') }, span)).toThrow(
      LogWindowNotAvailableError,
    );
    expect(() => windowLogs(logs, { since: new Date('2026-12-01T10:30:00Z') }, span)).toThrow(
      /run r1: its logs were saved without a time per line, and --since 2026-12-01T10:30:00.000Z falls inside the run .*; use --tail N instead/,
    );
  });

  it('cuts timed text (Docker timestamps) at since, then tails it, without the times', () => {
    const timed = {
      stdout:
        '2026-12-01T10:00:01.000000001Z one\n2026-12-01T10:20:00.5Z two\n2026-12-01T10:40:00Z three\n',
      stderr: '2026-12-01T10:10:00Z warn\n',
    };
    expect(windowTimedLogs(timed, { since: new Date('2026-12-01T10:15:00Z') })).toEqual({
      stdout: 'two\nthree\n',
      stderr: '',
    });
    expect(windowTimedLogs(timed, { tail: 1 })).toEqual({ stdout: 'three\n', stderr: 'warn\n' });
  });

  it('reads --since as a duration back from now or as a time', () => {
    const now = new Date('2026-12-01T12:00:00Z');
    expect(parseSince('10m', now)).toEqual(new Date('2026-12-01T11:50:00Z'));
    expect(parseSince('1h30m', now)).toEqual(new Date('2026-12-01T10:30:00Z'));
    expect(parseSince('2d', now)).toEqual(new Date('2026-11-29T12:00:00Z'));
    expect(parseSince('2026-12-01T08:00:00Z', now)).toEqual(new Date('2026-12-01T08:00:00Z'));
    expect(parseSince('2026-12-01 08:00', now)).toEqual(new Date(2026, 11, 1, 8, 0));
    for (const bad of ['10', 'ten minutes', '10x', '2026-13-45', '']) {
      expect(parseSince(bad, now), bad).toBeUndefined();
    }
  });
});
