import { describe, expect, it } from 'vitest';
import { InvalidParametersError } from '../../src/parameters/index.js';
import {
  combineSpecs,
  defaultParallelism,
  expandSweep,
  gpuSlotsOf,
  parseGridOption,
  parseSweepSpec,
} from '../../src/sweeps/index.js';

describe('sweep plans', () => {
  it('reads --grid values as JSON lists, integer ranges or comma-separated values', () => {
    expect(parseGridOption('lr=[0.1,0.01]')).toEqual({ key: 'lr', values: [0.1, 0.01] });
    expect(parseGridOption('seed=1..4').values).toEqual([1, 2, 3, 4]);
    expect(parseGridOption('seed=3..1').values).toEqual([3, 2, 1]);
    expect(parseGridOption('opt=adam, sgd,3,true').values).toEqual(['adam', 'sgd', 3, true]);
    expect(parseGridOption('model.depth=2').values).toEqual([2]);
    expect(() => parseGridOption('nokey')).toThrow(InvalidParametersError);
    expect(() => parseGridOption('=1,2')).toThrow(/expected key=values/);
  });

  it('refuses malformed ranges, lists and keys, quoting the input and showing the right form', () => {
    expect(() => parseGridOption('lr=1..x')).toThrow(
      '--grid "lr=1..x": a range is two whole numbers, from..to (--grid lr=1..20); list other values with commas (--grid lr=0.1,0.5,1)',
    );
    expect(() => parseGridOption('lr=0.1..1')).toThrow(/a range is two whole numbers/);
    expect(() => parseGridOption('lr=[0.1,0.01')).toThrow(
      /^--grid "lr=\[0\.1,0\.01": "\[0\.1,0\.01" is not valid JSON \(.*\); write a JSON list, quoted for the shell: --grid 'lr=\[0\.1,0\.01\]'$/,
    );
    expect(() => parseGridOption('lr=0.1,,0.01')).toThrow(
      '--grid "lr=0.1,,0.01": value 2 is empty; separate values with single commas (--grid lr=0.1,0.01)',
    );
    expect(() => parseGridOption('opt=adam,{"lr":')).toThrow(/is not valid JSON/);
    expect(() => parseGridOption('__proto__.x=1,2')).toThrow(
      '--grid "__proto__.x=1,2": "__proto__" cannot be a parameter name',
    );
    // Text with dots is not a range; one JSON object is one value.
    expect(parseGridOption('data=../a,../b').values).toEqual(['../a', '../b']);
    expect(parseGridOption('opt={"lr":1,"m":2}').values).toEqual([{ lr: 1, m: 2 }]);
    expect(() => parseSweepSpec(JSON.parse('{"grid": {"__proto__.x": [1]}}'), 'f.json')).toThrow(
      /^f\.json\.grid\.__proto__\.x: "__proto__\.x" is not a grid key/,
    );
    expect(() =>
      expandSweep({}, { runs: [{ model: 'resnet' }], grid: { 'model.depth': [2] } }),
    ).toThrow(/model is "resnet" \(a string, set by the sweep's runs\)/);
  });

  it('crosses grids with runs, over the base parameters', () => {
    const sets = expandSweep(
      { epochs: 3, model: { depth: 1, width: 8 } },
      combineSpecs(
        { runs: [{ name: 'a' }, { name: 'b' }] },
        { grid: { 'model.depth': [2, 4], lr: [0.1] } },
      ),
    );
    expect(sets).toEqual([
      { epochs: 3, model: { depth: 2, width: 8 }, name: 'a', lr: 0.1 },
      { epochs: 3, model: { depth: 4, width: 8 }, name: 'a', lr: 0.1 },
      { epochs: 3, model: { depth: 2, width: 8 }, name: 'b', lr: 0.1 },
      { epochs: 3, model: { depth: 4, width: 8 }, name: 'b', lr: 0.1 },
    ]);
    expect(expandSweep({}, { grid: { i: [1, 2, 3] } })).toHaveLength(3);
  });

  it('checks sweep files and names the bad part', () => {
    expect(parseSweepSpec([{ a: 1 }, { a: 2 }], 'f.json').runs).toHaveLength(2);
    expect(parseSweepSpec({ grid: { a: [1, 2] } }, 'f.json').grid).toEqual({ a: [1, 2] });
    expect(() => parseSweepSpec({ grid: { a: [] } }, 'f.json')).toThrow(
      'f.json.grid.a: expected a non-empty list',
    );
    expect(() => parseSweepSpec({ grids: {} }, 'f.json')).toThrow(
      'f.json.grids: unknown key (did you mean "grid"?); allowed: runs, grid',
    );
    expect(() => parseSweepSpec([{ a: Number.NaN }], 'f.json')).toThrow(/f\.json\[0\]\.a/);
  });

  it('runs one per GPU by default, and never more than the GPUs', () => {
    expect(gpuSlotsOf(2)).toEqual(['0', '1']);
    expect(gpuSlotsOf(['3', '5'])).toEqual(['3', '5']);
    expect(gpuSlotsOf('all')).toEqual([]);
    expect(gpuSlotsOf(undefined)).toEqual([]);
    expect(defaultParallelism(undefined, [])).toBe(1);
    expect(defaultParallelism(4, [])).toBe(4);
    expect(defaultParallelism(undefined, ['0', '1'])).toBe(2);
    expect(defaultParallelism(8, ['0', '1'])).toBe(2);
    expect(defaultParallelism(1, ['0', '1'])).toBe(1);
  });
});
