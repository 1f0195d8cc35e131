/** The front end's pure parts: a terminal's `\r`, the runs table's sort and filter, the best run. */
import { describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/records/record.js';
import { renderTerminalLine } from '../../src/ui/web/terminal.js';
import { applyTable, bestRun, lowerIsBetter, runColumns } from '../../src/ui/web/table.js';

describe('renderTerminalLine', () => {
  it('draws a progress bar redrawn with \\r as its last state', () => {
    expect(renderTerminalLine('10%\r20%\r100% done')).toBe('100% done');
    expect(renderTerminalLine('loading.....\rok')).toBe('okading.....');
    expect(renderTerminalLine('abc\rx\x1b[K')).toBe('x');
    expect(renderTerminalLine('\x1b[32mgreen\x1b[0m')).toBe('green');
    expect(renderTerminalLine('ab\bc')).toBe('ac');
    expect(renderTerminalLine('plain')).toBe('plain');
  });
});

const record = (id: string, extra: Partial<RunRecord>): RunRecord => ({
  id,
  job: 'j',
  version: '1.0.0',
  uid: 'j-1.0.0-0',
  target: 'local',
  targetKind: 'local',
  parameters: {},
  status: 'succeeded',
  createdAt: '2026-12-01T10:00:00.000Z',
  ...extra,
});

describe('the runs table', () => {
  const runs = [
    record('a', { metrics: { loss: 0.5 }, parameters: { lr: 0.1 }, target: 'gpu' }),
    record('b', { metrics: { loss: 0.2 }, parameters: { lr: 0.3 }, status: 'failed' }),
    record('c', { parameters: { lr: 0.2 } }),
  ];
  const columns = runColumns(runs, Date.now());

  it('has a column per metric, sorts numbers as numbers, missing values last', () => {
    expect(columns.map((c) => c.key)).toContain('metric:loss');
    const state = { sort: 'metric:loss', desc: false, filter: '', filterColumn: '' };
    expect(applyTable(runs, columns, state).map((r) => r.id)).toEqual(['b', 'a', 'c']);
    expect(applyTable(runs, columns, { ...state, desc: true }).map((r) => r.id)).toEqual([
      'a',
      'b',
      'c',
    ]);
  });

  it('filters by any column or by one', () => {
    const state = { sort: 'id', desc: false, filter: 'lr=0.2', filterColumn: '' };
    expect(applyTable(runs, columns, state).map((r) => r.id)).toEqual(['c']);
    expect(
      applyTable(runs, columns, { ...state, filter: 'gpu', filterColumn: 'target' }).map(
        (r) => r.id,
      ),
    ).toEqual(['a']);
    expect(applyTable(runs, columns, { ...state, filter: 'gpu', filterColumn: 'status' })).toEqual(
      [],
    );
  });

  it('marks the best run by the direction the metric wants', () => {
    expect(lowerIsBetter('val_loss')).toBe(true);
    expect(lowerIsBetter('accuracy')).toBe(false);
    expect(bestRun(runs, 'loss', true)?.id).toBe('b');
    expect(bestRun(runs, 'loss', false)?.id).toBe('a');
    expect(bestRun(runs, 'missing', true)).toBeUndefined();
  });
});

describe('RepeatFilter', () => {
  it('passes a line on once per window', async () => {
    const { PassThrough } = await import('node:stream');
    const { RepeatFilter } = await import('../../src/ui/repeatFilter.js');
    const target = new PassThrough();
    let text = '';
    target.on('data', (chunk: Buffer) => (text += chunk.toString()));
    let now = 0;
    const filter = new RepeatFilter(target, 1000, () => now);
    const write = (line: string) =>
      new Promise<void>((resolve) => filter.write(line, () => resolve()));
    await write('target gpu did not answer\n');
    now = 500;
    await write('target gpu did not answer\n');
    await write('another note\n');
    now = 1600;
    await write('target gpu did not answer\n');
    expect(text).toBe('target gpu did not answer\nanother note\ntarget gpu did not answer\n');
  });
});
