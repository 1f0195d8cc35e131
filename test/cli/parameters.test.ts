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

describe('parameters from untrusted input', () => {
  it('refuses __proto__, constructor and prototype as keys (rather than building null-prototype objects), so nothing reaches Object.prototype', () => {
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      expect(() => parseAssignment(`${key}.polluted=1`)).toThrow(
        `--param "${key}.polluted=1": "${key}" cannot be a parameter name (it is how code reaches Object.prototype); rename it`,
      );
      expect(() => applyAssignments({}, [`a.${key}.polluted=1`])).toThrow(InvalidParametersError);
      // As a parameters file or FERRY_PARAMETERS has them: JSON.parse makes `__proto__` an own key.
      const text = `{"ok": 1, "nested": {"${key}": {"polluted": true}}}`;
      expect(() => checkParameters(JSON.parse(text), 'params.json')).toThrow(
        `params.json.nested.${key}: "${key}" cannot be a parameter name`,
      );
      expect(() => decodeParameters(text)).toThrow(InvalidParametersError);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('does not let a later dotted key turn a value into an object', () => {
    expect(() => applyAssignments({}, ['epochs=3', 'epochs.x=1'])).toThrow(
      `--param "epochs.x=1": epochs is 3 (a number, set by --param "epochs=3"), so epochs.x cannot be set inside it; set the whole object instead (--param 'epochs={"x":…}') or drop one of the two`,
    );
    expect(() => applyAssignments({ model: 'resnet' }, ['model.depth=50'])).toThrow(
      'model is "resnet" (a string, set by defaults.parameters or a --params file)',
    );
    expect(() => applyAssignments({}, ['layers=[1,2]', 'layers.0=3'])).toThrow(
      /layers is \[1,2\] \(a list/,
    );
    // Replacing a value whole is explicit, and allowed; so is adding keys to an object.
    expect(applyAssignments({}, ['epochs.x=1', 'epochs=3'])).toEqual({ epochs: 3 });
    expect(applyAssignments({ o: { a: 1 } }, ['o.b=2'])).toEqual({ o: { a: 1, b: 2 } });
  });

  it('refuses values that start like JSON but are not, showing the right form', () => {
    expect(() => parseAssignment('lr=[0.1,0.01')).toThrow(
      /^--param "lr=\[0\.1,0\.01": "\[0\.1,0\.01" is not valid JSON \(.*\); write a JSON list, quoted for the shell: --param 'lr=\[0\.1,0\.01\]'$/,
    );
    expect(() => parseAssignment('opt={"lr":1')).toThrow(
      /write a JSON object, quoted for the shell: --param 'opt=\{"lr":0\.01\}'$/,
    );
    expect(() => parseAssignment('name="Ada')).toThrow(/close the string, or leave the quotes out/);
    expect(parseAssignment('path=../data/train.csv').value).toBe('../data/train.csv');
    expect(parseAssignment('note=a [draft]').value).toBe('a [draft]');
  });

  it('refuses parameters nested deeper than the limit instead of overflowing the stack', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(() => checkParameters({ deep })).toThrow(
      /parameters\.deep(\[0\])+: nested more than 64 levels deep/,
    );
  });
});
