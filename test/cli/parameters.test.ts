import { describe, expect, it } from 'vitest';
import {
  applyAssignments,
  checkParameters,
  decodeParameters,
  encodeParameters,
  InvalidParametersError,
  MAX_PARAMETERS_BYTES,
  mergeParameters,
  parseAssignment,
} from '../../src/parameters/index.js';

describe('run parameters', () => {
  it('reads --param values as JSON when they parse, else as text, with dotted keys', () => {
    expect(parseAssignment('epochs=10')).toEqual({ path: ['epochs'], value: 10 });
    expect(parseAssignment('name=Ada')).toEqual({ path: ['name'], value: 'Ada' });
    expect(parseAssignment('quoted="10"')).toEqual({ path: ['quoted'], value: '10' });
    expect(parseAssignment('eq=a=b')).toEqual({ path: ['eq'], value: 'a=b' });
    expect(parseAssignment('empty=')).toEqual({ path: ['empty'], value: '' });
    expect(
      applyAssignments({ optimizer: { lr: 1, name: 'sgd' } }, [
        'optimizer.lr=0.01',
        'layers=[1,2]',
      ]),
    ).toEqual({
      optimizer: { lr: 0.01, name: 'sgd' },
      layers: [1, 2],
    });
    expect(() => parseAssignment('novalue')).toThrow(/expected key=value/);
    expect(() => parseAssignment('a..b=1')).toThrow(InvalidParametersError);
  });

  it('merges layers deeply, later layers winning', () => {
    expect(mergeParameters({ a: 1, o: { x: 1, y: 2 } }, { o: { y: 3 } }, { b: [1] })).toEqual({
      a: 1,
      o: { x: 1, y: 3 },
      b: [1],
    });
  });

  it('accepts only JSON values and names the path of anything else', () => {
    expect(Object.isFrozen(checkParameters({ a: { b: [1] } }).a)).toBe(true);
    expect(() => checkParameters({ a: { b: [1, undefined] } })).toThrow(
      'parameters.a.b[1]: undefined is not a JSON value',
    );
    expect(() => checkParameters({ when: new Date() })).toThrow(
      /parameters\.when: an instance of Date/,
    );
    expect(() => checkParameters({ n: Infinity })).toThrow(/not a JSON number/);
    expect(() => checkParameters([1])).toThrow(/expected an object of parameters/);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => checkParameters(cycle)).toThrow(/cycle/);
  });

  it('travel as JSON in FERRY_PARAMETERS, within a size limit', () => {
    const text = encodeParameters({ lr: 0.1, tags: ['a'] });
    expect(decodeParameters(text)).toEqual({ lr: 0.1, tags: ['a'] });
    expect(decodeParameters(undefined)).toEqual({});
    expect(() => decodeParameters('{oops')).toThrow(/FERRY_PARAMETERS is not valid JSON/);
    expect(() => encodeParameters({ big: 'x'.repeat(MAX_PARAMETERS_BYTES) })).toThrow(
      /over the 65536-byte limit/,
    );
  });
});
