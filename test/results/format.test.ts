import { describe, expect, it } from 'vitest';
import { csvField, formatMetric, sortRuns } from '../../src/cli/runTable.js';
import { exportNamesOf } from '../../src/packaging/resultDocument.js';
import type { RunRecord } from '../../src/records/index.js';
import {
  metricLine,
  metricProblem,
  parseMetricLine,
  parseMetrics,
  renderLogLine,
} from '../../src/routines/results/metrics.js';

describe('metrics.jsonl and marker lines', () => {
  it('reads every point and the last value of each, skipping a line cut by a kill', () => {
    const text = [
      '{"name":"loss","value":0.5,"step":0,"at":"2026-01-01T00:00:00.000Z"}',
      '{"name":"loss","value":0.25,"step":1,"at":"2026-01-01T00:00:01.000Z"}',
      '{"name":"__proto__","value":1,"step":0,"at":"2026-01-01T00:00:01.000Z"}',
      '{"name":"acc","value":0.9,"st',
    ].join('\n');
    const { points, last, skipped } = parseMetrics(text);
    expect(points).toHaveLength(3);
    expect(skipped).toBe(1);
    expect(last.loss).toBe(0.25);
    expect(Object.getPrototypeOf(last)).toBeNull();
    expect(Object.hasOwn(last, '__proto__') && last['__proto__']).toBe(1);
  });

  it('round-trips a marker line and renders it readably', () => {
    const point = { name: 'loss', value: 0.12, step: 3, at: '2026-01-01T00:00:00.000Z' };
    expect(metricLine(point)).toBe(`ferry:metric ${JSON.stringify(point)}`);
    expect(parseMetricLine(metricLine(point))).toEqual(point);
    expect(parseMetricLine('loss 0.12')).toBeUndefined();
    expect(renderLogLine(metricLine(point))).toBe('metric loss = 0.12 (step 3)');
  });

  it('refuses names, values and steps it cannot store', () => {
    expect(metricProblem('', 1, undefined)).toMatch(/non-empty/);
    expect(metricProblem('a\nb', 1, undefined)).toMatch(/line break/);
    expect(metricProblem('loss', Number.NaN, undefined)).toMatch(/finite/);
    expect(metricProblem('loss', 1, -1)).toMatch(/step/);
    expect(metricProblem('loss', 1, 2)).toBeUndefined();
  });
});

describe('run tables', () => {
  const record = (id: string, metrics?: Record<string, number>): RunRecord => ({
    id,
    job: 'j',
    version: '1',
    uid: 'u',
    target: 'local',
    targetKind: 'local',
    parameters: {},
    status: 'succeeded',
    createdAt: `2026-01-01T00:00:0${id}.000Z`,
    ...(metrics === undefined ? {} : { metrics }),
  });

  it('sorts by a metric, runs without it last, either way', () => {
    const runs = [record('1', { loss: 0.3 }), record('2'), record('3', { loss: 0.1 })];
    const args = (desc: boolean) => ({ values: { sort: 'loss', desc }, positionals: [] });
    expect(sortRuns(runs, args(false), 'ls').map((r) => r.id)).toEqual(['3', '1', '2']);
    expect(sortRuns(runs, args(true), 'ls').map((r) => r.id)).toEqual(['1', '3', '2']);
    expect(() => sortRuns(runs, { values: { sort: 'acc' }, positionals: [] }, 'ls')).toThrow(
      /neither a metric of these runs \(loss\)/,
    );
  });

  it('formats values and CSV fields safely', () => {
    expect(formatMetric(0.123456)).toBe('0.1235');
    expect(formatMetric(42)).toBe('42');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('=cmd()')).toBe("'=cmd()");
    expect(csvField('-0.5')).toBe('-0.5');
  });
});

describe('export names of a bundled module', () => {
  it('reads esbuild’s export clauses', () => {
    const code =
      'class A {}\nvar b = 1;\nexport {\n  A,\n  b as default,\n  A as Alias\n};\n//# sourceMappingURL=x.js.map\n';
    expect(exportNamesOf(code)).toEqual(['A', 'default', 'Alias']);
    expect(exportNamesOf('console.log(1);\n')).toEqual([]);
  });
});

describe('reading a result back', () => {
  it('refuses a class reference into a module that does not export it, before importing it', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const os = await import('node:os');
    const path = await import('node:path');
    const { deserializeValue } = await import('../../src/packaging/resultDocument.js');
    const { ClassRegistryError } = await import('../../src/packaging/errors.js');
    const root = await mkdtemp(path.join(os.tmpdir(), 'ferry-result-refs-'));
    try {
      const marker = path.join(root, 'ran');
      await writeFile(
        path.join(root, 'script.mjs'),
        `import { writeFileSync } from 'node:fs'; writeFileSync(${JSON.stringify(marker)}, 'x');\n`,
      );
      const document = {
        format: 'ferry-graph',
        version: 1,
        classes: [{ module: 'script.mjs', exportName: 'Anything' }],
      };
      await expect(
        deserializeValue({ document, blobs: Buffer.alloc(0) }, { sourceRoot: root }),
      ).rejects.toThrow(ClassRegistryError);
      await expect(
        deserializeValue(
          {
            document: { ...document, classes: [{ module: '../x.mjs', exportName: 'A' }] },
            blobs: Buffer.alloc(0),
          },
          { sourceRoot: root },
        ),
      ).rejects.toThrow(/not a path inside/);
      const { existsSync } = await import('node:fs');
      expect(existsSync(marker)).toBe(false);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
