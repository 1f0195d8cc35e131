import { Readable } from 'node:stream';
import { Socket } from 'node:net';
import * as esbuild from 'esbuild';
import { describe, expect, it } from 'vitest';
import { FerryError } from '../../src/errors.js';
import {
  type ClassIdentifier,
  type ClassReference,
  type ClassResolver,
  deserialize,
  ferryDeserialize,
  ferrySerialize,
  NotSerializableError,
  PayloadFormatError,
  serialize,
  type SerializedPayload,
  UnknownClassError,
} from '../../src/packaging/serialization/index.js';
import * as baseModule from './fixtures/serialization-base.js';
import * as classesModule from './fixtures/serialization-classes.js';
import { constructorCalls, Step } from './fixtures/serialization-base.js';
import {
  Bus,
  Connection,
  Counter,
  NamedCounter,
  Sequence,
  FailingHook,
  Featurizer,
  Guarded,
  HalfHooked,
  KeyRing,
  Outsider,
  Pipeline,
  Registry,
  Samples,
  SelfReferencingHook,
  setterCalls,
  Vault,
  Vector,
} from './fixtures/serialization-classes.js';

// ---------------------------------------------------------------------------------------------------------------
// A tiny registry standing in for the packager's identifyClass/resolveClass.

const registry = new Map<unknown, ClassReference>();
function register(module: string, exports: Record<string, unknown>): void {
  for (const [exportName, value] of Object.entries(exports)) {
    if (typeof value === 'function' && value !== Outsider) {
      registry.set(value, { module, exportName });
    }
  }
}
register('fixtures/serialization-base.ts', baseModule);
register('fixtures/serialization-classes.ts', classesModule);

const identifyClass: ClassIdentifier = (constructor) => registry.get(constructor);

function makeResolver(): { resolveClass: ClassResolver; calls: ClassReference[] } {
  const calls: ClassReference[] = [];
  const resolveClass: ClassResolver = (reference) => {
    calls.push({ module: reference.module, exportName: reference.exportName });
    for (const [constructor, known] of registry) {
      if (known.module === reference.module && known.exportName === reference.exportName) {
        return constructor as ReturnType<ClassResolver>;
      }
    }
    throw new Error(`${reference.module} does not export ${reference.exportName}`);
  };
  return { resolveClass, calls };
}

/** What crosses the wire: the document as JSON text, the blobs as bytes. */
function transport(payload: SerializedPayload): SerializedPayload {
  return {
    document: JSON.parse(JSON.stringify(payload.document)) as SerializedPayload['document'],
    blobs: Buffer.from(payload.blobs),
  };
}

function roundTrip<T>(value: T): T {
  const payload = transport(serialize(value, { identifyClass }));
  return deserialize(payload, { resolveClass: makeResolver().resolveClass }) as T;
}

function refusal(value: unknown, rootName?: string): NotSerializableError {
  try {
    serialize(value, rootName === undefined ? { identifyClass } : { identifyClass, rootName });
  } catch (error) {
    if (error instanceof NotSerializableError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected a NotSerializableError');
}

function loadError(payload: SerializedPayload): unknown {
  try {
    deserialize(payload, { resolveClass: makeResolver().resolveClass });
  } catch (error) {
    return error;
  }
  throw new Error('expected deserialize to throw');
}

/** A mutable deep copy of a payload's document, for tampering. */
type Doc = Record<string, unknown> & {
  nodes: Record<string, unknown>[];
  classes: Record<string, unknown>[];
};
function tamper(
  value: unknown,
  change: (document: Doc, blobs: Buffer) => Buffer | void,
): SerializedPayload {
  const payload = serialize(value, { identifyClass });
  const document = JSON.parse(JSON.stringify(payload.document)) as Doc;
  const blobs = Buffer.from(payload.blobs);
  const replaced = change(document, blobs);
  return {
    document: document as unknown as SerializedPayload['document'],
    blobs: replaced ?? blobs,
  };
}

// ---------------------------------------------------------------------------------------------------------------

describe('round trip', () => {
  it.each<[string, unknown, (loaded: unknown) => void]>([
    ['undefined', undefined, (loaded) => expect(loaded).toBeUndefined()],
    ['null', null, (loaded) => expect(loaded).toBeNull()],
    ['true', true, (loaded) => expect(loaded).toBe(true)],
    ['a number', 1.5e-300, (loaded) => expect(loaded).toBe(1.5e-300)],
    ['0', 0, (loaded) => expect(Object.is(loaded, 0)).toBe(true)],
    ['-0', -0, (loaded) => expect(Object.is(loaded, -0)).toBe(true)],
    ['NaN', Number.NaN, (loaded) => expect(Number.isNaN(loaded)).toBe(true)],
    ['Infinity', Infinity, (loaded) => expect(loaded).toBe(Infinity)],
    ['-Infinity', -Infinity, (loaded) => expect(loaded).toBe(-Infinity)],
    [
      'MAX_SAFE_INTEGER',
      Number.MAX_SAFE_INTEGER,
      (loaded) => expect(loaded).toBe(Number.MAX_SAFE_INTEGER),
    ],
    ['a BigInt', -(2n ** 130n) + 7n, (loaded) => expect(loaded).toBe(-(2n ** 130n) + 7n)],
    ['0n', 0n, (loaded) => expect(loaded).toBe(0n)],
    ['an empty string', '', (loaded) => expect(loaded).toBe('')],
    [
      'an odd string',
      'tab\t "quote" \u{1F600} lone \uD800 nul \u0000',
      (loaded) => expect(loaded).toBe('tab\t "quote" \u{1F600} lone \uD800 nul \u0000'),
    ],
  ])('%s as the root and as a field', (_name, value, check) => {
    check(roundTrip(value));
    const loaded = roundTrip({ field: value, list: [value] });
    check(loaded.field);
    check(loaded.list[0]);
    expect(Object.hasOwn(loaded, 'field')).toBe(true);
  });

  it('Date, including an invalid one', () => {
    const [valid, invalid, epoch] = roundTrip([
      new Date(Date.UTC(2024, 1, 29, 12, 30, 15, 123)),
      new Date(Number.NaN),
      new Date(0),
    ]);
    expect(valid).toBeInstanceOf(Date);
    expect(valid?.toISOString()).toBe('2024-02-29T12:30:15.123Z');
    expect(invalid).toBeInstanceOf(Date);
    expect(Number.isNaN(invalid?.getTime())).toBe(true);
    expect(epoch?.getTime()).toBe(0);
  });

  it('RegExp with source, flags and lastIndex', () => {
    const original = /a(?<word>b+)\/c/dgimsuy;
    original.lastIndex = 5;
    const loaded = roundTrip(original);
    expect(loaded).toBeInstanceOf(RegExp);
    expect(loaded.source).toBe(original.source);
    expect(loaded.flags).toBe('dgimsuy');
    expect(loaded.lastIndex).toBe(5);
    expect(loaded).not.toBe(original);
    expect(roundTrip(new RegExp('[\\p{L}--[a-z]]', 'v')).flags).toBe('v');
  });

  it('Map and Set with keys and values of any kind, in order', () => {
    const objectKey = { id: 1 };
    const map = new Map<unknown, unknown>([
      ['a', 1],
      [objectKey, 'object key'],
      [Number.NaN, 'nan key'],
      [10n, new Set([1, objectKey, undefined])],
      [undefined, null],
    ]);
    const loaded = roundTrip({ map, objectKey });
    expect(loaded.map).toBeInstanceOf(Map);
    expect([...loaded.map.keys()]).toHaveLength(5);
    expect(loaded.map.get('a')).toBe(1);
    expect(loaded.map.get(loaded.objectKey)).toBe('object key');
    expect(loaded.map.get(Number.NaN)).toBe('nan key');
    expect(loaded.map.get(undefined)).toBeNull();
    const set = loaded.map.get(10n) as Set<unknown>;
    expect(set).toBeInstanceOf(Set);
    expect([...set]).toEqual([1, loaded.objectKey, undefined]);
    expect(set.has(loaded.objectKey)).toBe(true);
    expect([...loaded.map.keys()][1]).toBe(loaded.objectKey);
  });

  it('sparse arrays keep their holes; nested arrays and extra properties survive', () => {
    // eslint-disable-next-line no-sparse-arrays -- the holes are the point
    const sparse: unknown[] = [1, , 3, , undefined];
    sparse.length = 8;
    const tagged = Object.assign([['a', ['b', []]], [1]], { label: 'extra' });
    const huge: unknown[] = [];
    huge[4_000_000_000] = 'far';
    const loaded = roundTrip({ sparse, tagged, huge });

    expect(loaded.sparse).toHaveLength(8);
    expect(0 in loaded.sparse).toBe(true);
    expect(1 in loaded.sparse).toBe(false);
    expect(3 in loaded.sparse).toBe(false);
    expect(4 in loaded.sparse).toBe(true);
    expect(loaded.sparse[4]).toBeUndefined();
    expect(7 in loaded.sparse).toBe(false);
    expect([...loaded.tagged]).toEqual([['a', ['b', []]], [1]]);
    expect(loaded.tagged.label).toBe('extra');
    expect(Array.isArray(loaded.tagged[0])).toBe(true);
    expect(loaded.huge).toHaveLength(4_000_000_001);
    expect(loaded.huge[4_000_000_000]).toBe('far');
    expect(Object.keys(loaded.huge)).toEqual(['4000000000']);
  });

  it('plain objects keep property order, including integer-like keys', () => {
    const original = { zebra: 1, 2: 'two', apple: { nested: true }, 1: 'one', 'with space': null };
    const loaded = roundTrip(original);
    expect(Object.keys(loaded)).toEqual(Object.keys(original));
    expect(loaded).toEqual(original);
    expect(Object.getPrototypeOf(loaded)).toBe(Object.prototype);
  });

  it('null-prototype objects', () => {
    const original = Object.assign(Object.create(null) as Record<string, unknown>, {
      a: 1,
      toString: 'data',
    });
    const loaded = roundTrip({ original });
    expect(Object.getPrototypeOf(loaded.original)).toBeNull();
    expect(loaded.original.a).toBe(1);
    expect(loaded.original.toString).toBe('data');
  });

  it('class instances, with inheritance across modules, without calling constructors', () => {
    const tokens = new Featurizer('tokens', ['text']);
    tokens.scale = 3;
    tokens.enabled = false;
    const pipeline = new Pipeline();
    pipeline.steps.push(tokens, new Step('plain step'));
    const before = constructorCalls.count;

    const loaded = roundTrip(pipeline);

    expect(constructorCalls.count).toBe(before);
    expect(loaded).toBeInstanceOf(Pipeline);
    expect(Object.getPrototypeOf(loaded)).toBe(Pipeline.prototype);
    const [step0, step1] = loaded.steps;
    expect(step0).toBeInstanceOf(Featurizer);
    expect(step0).toBeInstanceOf(Step);
    expect(Object.getPrototypeOf(step0)).toBe(Featurizer.prototype);
    expect((step0 as Featurizer).width()).toBe(3);
    expect(step0?.describe()).toBe('tokens (off)');
    expect(Object.getPrototypeOf(step1)).toBe(Step.prototype);
    expect(Object.keys(step0 as object)).toEqual(Object.keys(tokens));
    expect(loaded.parent).toBeUndefined();
    expect(Object.hasOwn(loaded, 'parent')).toBe(true);
  });

  it('user subclasses of built-ins keep their internal state, prototype and fields', () => {
    const registry = new Registry([['model', { depth: 3 }]]);
    registry.owner = 'me';
    const samples = Samples.from([1, 2, 3]) as Samples;
    const loaded = roundTrip({ registry, samples });
    expect(loaded.registry).toBeInstanceOf(Registry);
    expect(loaded.registry).toBeInstanceOf(Map);
    expect(loaded.registry.get('model')).toEqual({ depth: 3 });
    expect(loaded.registry.owner).toBe('me');
    expect(loaded.samples).toBeInstanceOf(Samples);
    expect(Array.isArray(loaded.samples)).toBe(true);
    expect([...loaded.samples]).toEqual([1, 2, 3]);
  });

  it('cycles and shared references keep their identity', () => {
    const shared = { name: 'shared' };
    const root: Record<string, unknown> = { x: shared, y: shared, list: [shared, shared] };
    root.self = root;
    const a: Record<string, unknown> = { name: 'a' };
    const b: Record<string, unknown> = { name: 'b', a };
    a.b = b;
    root.a = a;
    const map = new Map<unknown, unknown>();
    map.set(map, root);
    root.map = map;
    const set = new Set<unknown>();
    set.add(set);
    root.set = set;

    const loaded = roundTrip(root);
    expect(loaded.x).toBe(loaded.y);
    expect((loaded.list as unknown[])[0]).toBe(loaded.x);
    expect((loaded.list as unknown[])[1]).toBe(loaded.x);
    expect(loaded.self).toBe(loaded);
    const loadedA = loaded.a as Record<string, unknown>;
    expect((loadedA.b as Record<string, unknown>).a).toBe(loadedA);
    const loadedMap = loaded.map as Map<unknown, unknown>;
    expect(loadedMap.get(loadedMap)).toBe(loaded);
    const loadedSet = loaded.set as Set<unknown>;
    expect(loadedSet.has(loadedSet)).toBe(true);
  });

  it('boxed primitives', () => {
    const boxed = [new Number(-0), new String('text'), new Boolean(false), Object(5n) as object];
    const loaded = roundTrip(boxed);
    expect(loaded[0]).toBeInstanceOf(Number);
    expect(Object.is(loaded[0]?.valueOf(), -0)).toBe(true);
    expect(loaded[1]).toBeInstanceOf(String);
    expect(loaded[1]?.valueOf()).toBe('text');
    expect(loaded[2]).toBeInstanceOf(Boolean);
    expect(loaded[2]?.valueOf()).toBe(false);
    expect(typeof loaded[3]).toBe('object');
    expect(loaded[3]?.valueOf()).toBe(5n);
  });

  it('non-enumerable own properties are left out', () => {
    const original = { visible: 1 };
    Object.defineProperty(original, 'hidden', { value: 2, enumerable: false });
    Object.defineProperty(original, Symbol('hidden'), { value: 3, enumerable: false });
    const loaded = roundTrip(original);
    expect(Reflect.ownKeys(loaded)).toEqual(['visible']);
  });
});

describe('binary values', () => {
  const typedArrays = [
    new Int8Array([-128, 0, 127]),
    new Uint8Array([0, 1, 255]),
    new Uint8ClampedArray([0, 128, 255]),
    new Int16Array([-32768, 1, 32767]),
    new Uint16Array([0, 65535, 258]),
    new Int32Array([-(2 ** 31), 7, 2 ** 31 - 1]),
    new Uint32Array([0, 2 ** 32 - 1, 65536]),
    new Float32Array([1.5, -0, Number.NaN, Infinity]),
    new Float64Array([Math.PI, -0, Number.NaN, -Infinity, 5e-324]),
    new BigInt64Array([-(2n ** 63n), 0n, 2n ** 63n - 1n]),
    new BigUint64Array([0n, 2n ** 64n - 1n, 12345678901234567890n]),
  ];

  it.each(typedArrays.map((array) => [array.constructor.name, array] as const))(
    '%s keeps its element type and values',
    (_name, original) => {
      const payload = serialize({ data: original }, { identifyClass });
      expect(payload.blobs.byteLength).toBeGreaterThanOrEqual(original.byteLength);
      const loaded = deserialize(transport(payload), {
        resolveClass: makeResolver().resolveClass,
      }) as {
        data: typeof original;
      };
      expect(loaded.data.constructor).toBe(original.constructor);
      expect(Object.getPrototypeOf(loaded.data)).toBe(Object.getPrototypeOf(original));
      expect(loaded.data).toHaveLength(original.length);
      for (let index = 0; index < original.length; index += 1) {
        expect(Object.is(loaded.data[index], original[index])).toBe(true);
      }
      expect(loaded.data.buffer).not.toBe(original.buffer);
    },
  );

  it('Buffer, ArrayBuffer and DataView travel as side-car bytes, aligned to 8, never as base64 or numbers', () => {
    const bytes = Buffer.from('Ferry carries these exact bytes \u00e9\u00e8!');
    const arrayBuffer = new Uint8Array([9, 8, 7, 6, 5]).buffer;
    const view = new DataView(new ArrayBuffer(16), 4, 8);
    view.setFloat64(0, 2.5);
    const doubles = new Float64Array([1.25, 2.5, 3.75]);
    const payload = serialize({ bytes, arrayBuffer, view, doubles }, { identifyClass });

    const json = JSON.stringify(payload.document);
    expect(payload.blobs.byteLength).toBeGreaterThan(0);
    expect(json).not.toContain(bytes.toString('base64'));
    expect(json).not.toContain(bytes.toString('base64').slice(0, 12));
    expect(json).not.toContain(Buffer.from(doubles.buffer).toString('base64').slice(0, 12));
    expect(json).not.toContain('1.25');
    expect(json).not.toContain('Ferry carries');
    const offsets = [...json.matchAll(/"offset":(\d+)/g)].map((match) => Number(match[1]));
    expect(offsets).toHaveLength(4);
    for (const offset of offsets) {
      expect(offset % 8).toBe(0);
    }

    const loaded = deserialize(transport(payload), {
      resolveClass: makeResolver().resolveClass,
    }) as {
      bytes: Buffer;
      arrayBuffer: ArrayBuffer;
      view: DataView;
      doubles: Float64Array;
    };
    expect(Buffer.isBuffer(loaded.bytes)).toBe(true);
    expect(loaded.bytes.equals(bytes)).toBe(true);
    expect(loaded.arrayBuffer).toBeInstanceOf(ArrayBuffer);
    expect([...new Uint8Array(loaded.arrayBuffer)]).toEqual([9, 8, 7, 6, 5]);
    expect(loaded.view).toBeInstanceOf(DataView);
    expect(loaded.view.byteLength).toBe(8);
    expect(loaded.view.getFloat64(0)).toBe(2.5);
    expect([...loaded.doubles]).toEqual([1.25, 2.5, 3.75]);
  });

  it('a user subclass of a typed array keeps its class', () => {
    const vector = Vector.from([3, 4]) as Vector;
    const loaded = roundTrip({ vector });
    expect(loaded.vector).toBeInstanceOf(Vector);
    expect(loaded.vector).toBeInstanceOf(Float64Array);
    expect(loaded.vector.norm()).toBe(5);
  });

  it('a small Buffer cut from the shared pool carries only its own bytes', () => {
    const small = Buffer.from('abc');
    expect(small.buffer.byteLength).toBeGreaterThan(3);
    const payload = serialize(small, { identifyClass });
    expect(payload.blobs.byteLength).toBe(3);
  });

  it('views of one ArrayBuffer are stored separately; the same view twice stays one object', () => {
    const memory = new ArrayBuffer(16);
    const whole = new Uint8Array(memory);
    const tail = new Float64Array(memory, 8, 1);
    whole[0] = 42;
    tail[0] = 0.5;
    const loaded = roundTrip({ whole, tail, again: tail });
    expect(loaded.again).toBe(loaded.tail);
    expect(loaded.whole[0]).toBe(42);
    expect(loaded.tail[0]).toBe(0.5);
    expect(loaded.tail.byteOffset).toBe(0);
    expect(loaded.whole.buffer).not.toBe(loaded.tail.buffer);
  });

  it('a payload written in the other byte order is swapped on load', () => {
    const original = {
      ints: new Uint32Array([1, 0x01020304]),
      doubles: new Float64Array([Math.E]),
    };
    const payload = tamper(original, (document, blobs) => {
      const binary = document.binary as { byteOrder: string };
      binary.byteOrder = binary.byteOrder === 'little-endian' ? 'big-endian' : 'little-endian';
      for (const node of document.nodes) {
        const size = node.view === 'Uint32Array' ? 4 : 8;
        const range = blobs.subarray(
          node.offset as number,
          (node.offset as number) + (node.byteLength as number),
        );
        if (size === 4) range.swap32();
        else range.swap64();
      }
    });
    const loaded = deserialize(payload, {
      resolveClass: makeResolver().resolveClass,
    }) as typeof original;
    expect([...loaded.ints]).toEqual([1, 0x01020304]);
    expect(loaded.doubles[0]).toBe(Math.E);
  });

  it('a 100 MB Float64Array serializes and deserializes fast', () => {
    const length = (100 * 1024 * 1024) / 8;
    const big = new Float64Array(length);
    for (let index = 0; index < length; index += 4096) {
      big[index] = index * 0.5;
    }
    big[length - 1] = -1.5;

    const savingStarted = performance.now();
    const payload = serialize({ big }, { identifyClass });
    const savingTook = performance.now() - savingStarted;
    expect(payload.blobs.byteLength).toBe(big.byteLength);
    expect(JSON.stringify(payload.document).length).toBeLessThan(400);

    const loadingStarted = performance.now();
    const loaded = deserialize(payload, { resolveClass: makeResolver().resolveClass }) as {
      big: Float64Array;
    };
    const loadingTook = performance.now() - loadingStarted;

    expect(loaded.big).toHaveLength(length);
    expect(loaded.big[4096]).toBe(2048);
    expect(loaded.big[length - 1]).toBe(-1.5);
    // A per-element path takes seconds here; a copy of the bytes takes tens of milliseconds.
    expect(savingTook).toBeLessThan(1500);
    expect(loadingTook).toBeLessThan(1500);
  });
});

describe('depth', () => {
  it('10,000 nested arrays and a 100,000-long linked list need no deep call stack', () => {
    let nested: unknown[] = ['bottom'];
    for (let level = 0; level < 10_000; level += 1) {
      nested = [nested];
    }
    let loadedNested = roundTrip(nested);
    for (let level = 0; level < 10_000; level += 1) {
      loadedNested = loadedNested[0] as unknown[];
    }
    expect(loadedNested).toEqual(['bottom']);

    type Link = { value: number; next: Link | null };
    let list: Link | null = null;
    for (let value = 100_000; value > 0; value -= 1) {
      list = { value, next: list };
    }
    let loadedList = roundTrip(list);
    let count = 0;
    while (loadedList !== null) {
      count += 1;
      expect(loadedList.value).toBe(count);
      loadedList = loadedList.next;
    }
    expect(count).toBe(100_000);
  });

  it('refuses a document nested 100,000 levels deep with PayloadFormatError, not a stack overflow', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const text = `{"format":"ferry-graph","version":1,"classes":[],"binary":{"byteLength":0,"byteOrder":"little-endian"},"nodes":[],"root":${deep}}`;
    const error = loadError({ document: JSON.parse(text), blobs: Buffer.alloc(0) });
    expect(error).toBeInstanceOf(PayloadFormatError);
    expect((error as Error).message).toMatch(/nested more than 16 levels deep/);
    const inProps = `{"format":"ferry-graph","version":1,"classes":[],"binary":{"byteLength":0,"byteOrder":"little-endian"},"nodes":[{"type":"object","props":{"x":${deep}}}],"root":["ref",0]}`;
    expect(loadError({ document: JSON.parse(inProps), blobs: Buffer.alloc(0) })).toBeInstanceOf(
      PayloadFormatError,
    );
  });

  it('refuses a graph deeper than the bound at packaging time, naming where', () => {
    type Link = { next: Link | null };
    let list: Link | null = null;
    for (let i = 0; i < 2_000; i += 1) list = { next: list };
    let error: unknown;
    try {
      serialize(list, { identifyClass, maxDepth: 1_000 });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(NotSerializableError);
    expect((error as NotSerializableError).code).toBe('too-deep');
    expect((error as Error).message).toMatch(
      /^job…\(\d[\d,]* more\)…(\.next)+: the object graph is nested more than 1000 levels deep/,
    );
  });
});

describe('private state', () => {
  it('refuses an instance with #private fields and no hook, naming the path and the hook', () => {
    const error = refusal({ steps: [new Counter('c')] });
    expect(error.code).toBe('private-state');
    expect(error.message).toMatch(
      /^job\.steps\[0\]: an instance of class Counter keeps state in its private member #count/,
    );
    expect(error.message).toMatch(/\[ferrySerialize\]\(\).*\[ferryDeserialize\]\(state\)/);
  });

  it('refuses a decorated accessor and a subclass of a class with private state', async () => {
    // Compiled as tsx and Ferry's bundler compile it (Node runs no decorators itself).
    const { code } = await esbuild.transform(
      `function tracked(target, _context) { return target; }
       export class Gauge { @tracked accessor level = 1; }`,
      { loader: 'ts', format: 'esm', target: 'node20' },
    );
    const { Gauge } = (await import(`data:text/javascript,${encodeURIComponent(code)}`)) as {
      Gauge: new () => object;
    };
    expect(refusal({ gauge: new Gauge() }).message).toMatch(
      /^job\.gauge: an instance of class Gauge keeps state in its private member level/,
    );
    expect(refusal(new NamedCounter('n')).message).toMatch(
      /class NamedCounter keeps state in its private member #count/,
    );
  });

  it('delivers classes whose private state goes through the hook, or is static', () => {
    expect(roundTrip(new Vault('s3cret', 'v')).reveal()).toBe('s3cret');
    const loaded = roundTrip(new Sequence());
    expect(loaded).toBeInstanceOf(Sequence);
    expect(loaded.describe()).toMatch(/^sequence #\d+$/);
  });
});

describe('the ferrySerialize hook', () => {
  it('uses registered symbols', () => {
    expect(ferrySerialize).toBe(Symbol.for('ferry.serialize'));
    expect(ferryDeserialize).toBe(Symbol.for('ferry.deserialize'));
  });

  it('round-trips a class whose state is in a #private field, keeping identity of shared instances', () => {
    const vault = new Vault('s3cret', 'prod');
    const payload = serialize({ first: vault, second: vault }, { identifyClass });
    expect(JSON.stringify(payload.document)).toContain('s3cret');
    const before = constructorCalls.count;
    const loaded = deserialize(transport(payload), {
      resolveClass: makeResolver().resolveClass,
    }) as {
      first: Vault;
      second: Vault;
    };
    expect(loaded.first).toBeInstanceOf(Vault);
    expect(loaded.first.reveal()).toBe('s3cret');
    expect(loaded.first.label).toBe('prod');
    expect(loaded.second).toBe(loaded.first);
    // The hook rebuilt it (by calling the constructor itself), exactly once.
    expect(constructorCalls.count).toBe(before + 1);
  });

  it('reopens handles from a fully rebuilt state, and its state may hold other instances', () => {
    const options = new Map<string, unknown>([
      ['timeout', 30],
      ['step', new Step('inside state')],
    ]);
    const loaded = roundTrip({ connection: new Connection('db://somewhere', options), options });
    expect(loaded.connection).toBeInstanceOf(Connection);
    expect(loaded.connection.opened).toBe(true);
    expect(loaded.connection.sawCompleteState).toBe(true);
    expect(loaded.connection.url).toBe('db://somewhere');
    expect(loaded.connection.options).toBe(loaded.options);
    expect(loaded.options.get('step')).toBeInstanceOf(Step);
  });

  it('rebuilds hooks nested in the state of other hooks first, sharing instances', () => {
    const shared = new Vault('one', 'a');
    const ring = new KeyRing([shared, new Vault('two', 'b'), shared]);
    const loaded = roundTrip({ ring, shared });
    expect(loaded.ring).toBeInstanceOf(KeyRing);
    expect(loaded.ring.secrets()).toEqual(['one', 'two', 'one']);
    expect(loaded.shared.reveal()).toBe('one');
  });

  it('refuses a class without the static [ferryDeserialize]', () => {
    const error = refusal({ half: new HalfHooked() });
    expect(error.path).toBe('job.half');
    expect(error.code).toBe('hook-missing-deserialize');
    expect(error.message).toBe(
      'job.half: class HalfHooked defines [ferrySerialize]() but no static [ferryDeserialize](state); ' +
        'add the static method so the instance can be rebuilt on load',
    );
  });

  it('reports a hook that throws, with its error as the cause', () => {
    const error = refusal({ sources: [new FailingHook()] });
    expect(error.path).toBe('job.sources[0]');
    expect(error.message).toBe(
      'job.sources[0]: [ferrySerialize]() of class FailingHook threw: disk is gone',
    );
    expect((error.cause as Error).message).toBe('disk is gone');
  });

  it('refuses a hook whose state leads back to the instance', () => {
    const error = refusal({ model: { hooked: new SelfReferencingHook() } });
    expect(error.path).toBe('job.model.hooked');
    expect(error.code).toBe('hook-cycle');
    expect(error.message).toMatch(
      /^job\.model\.hooked: the state that \[ferrySerialize\]\(\) of class SelfReferencingHook/,
    );
  });
});

describe('refusals name the path and say what to do', () => {
  it('is a FerryError carrying path, reason and code', () => {
    const rowSelector = (row: unknown): boolean => row !== null;
    const error = refusal({ featurizers: { passengers: { rowSelector } } });
    expect(error).toBeInstanceOf(FerryError);
    expect(error.name).toBe('NotSerializableError');
    expect(error.path).toBe('job.featurizers.passengers.rowSelector');
    expect(error.code).toBe('function');
    expect(error.reason).toBe(
      'function values cannot be delivered; keep functions in class methods and store only data in fields',
    );
    expect(error.message).toBe(
      'job.featurizers.passengers.rowSelector: function values cannot be delivered; keep functions in class ' +
        'methods and store only data in fields',
    );
  });

  const weakTarget = {};
  const cases: [string, () => unknown, string, NotSerializableError['code'], RegExp][] = [
    [
      'a function',
      () => ({ reader: function read() {} }),
      'job.reader',
      'function',
      /keep functions in class methods/,
    ],
    [
      'a class as a value',
      () => ({ model: Featurizer }),
      'job.model',
      'class-value',
      /the class Featurizer itself/,
    ],
    ['a symbol value', () => ({ tag: Symbol('x') }), 'job.tag', 'symbol', /use a string instead/],
    [
      'a symbol key',
      () => ({ data: { [Symbol('meta')]: 1 } }),
      'job.data[Symbol(meta)]',
      'symbol-key',
      /use a string key/,
    ],
    ['a WeakMap', () => ({ cache: new WeakMap() }), 'job.cache', 'weak-collection', /use a Map/],
    ['a WeakSet', () => ({ seen: [new WeakSet()] }), 'job.seen[0]', 'weak-collection', /use a Set/],
    [
      'a WeakRef',
      () => ({ ref: new WeakRef(weakTarget) }),
      'job.ref',
      'weak-ref',
      /store the target itself/,
    ],
    ['a Promise', () => ({ pending: Promise.resolve(1) }), 'job.pending', 'promise', /await it/],
    [
      'an EventEmitter',
      () => ({ bus: new Bus() }),
      'job.bus',
      'live-handle',
      /Bus is an event emitter/,
    ],
    [
      'a stream',
      () => ({ input: Readable.from([]) }),
      'job.input',
      'live-handle',
      /open it inside run\(\)/,
    ],
    [
      'a socket',
      () => ({ socket: new Socket() }),
      'job.socket',
      'live-handle',
      /Socket is an event emitter/,
    ],
    [
      'an instance of an unexported class',
      () => ({ steps: [new Step('ok'), new Outsider()] }),
      'job.steps[1]',
      'unexported-class',
      /instance of class Outsider cannot be delivered because Outsider is not exported from a module under the source root/,
    ],
    [
      'an instance of an anonymous local class',
      () => ({ local: new (class {})() }),
      'job.local',
      'unexported-class',
      /class <anonymous class>/,
    ],
    [
      'an own getter',
      () => ({
        stats: {
          get total() {
            return 1;
          },
        },
      }),
      'job.stats.total',
      'accessor',
      /getter\/setter properties cannot be delivered/,
    ],
    ['a Proxy', () => ({ proxied: new Proxy({}, {}) }), 'job.proxied', 'proxy', /Proxy objects/],
    [
      'an Error',
      () => ({ failure: new Error('x') }),
      'job.failure',
      'error-object',
      /store the message/,
    ],
    [
      'an object with a borrowed prototype',
      () => ({ derived: Object.create({ inherited: 1 }) as object }),
      'job.derived',
      'foreign-prototype',
      /Object\.create\(other\)/,
    ],
    [
      'a SharedArrayBuffer',
      () => ({ memory: new SharedArrayBuffer(8) }),
      'job.memory',
      'shared-memory',
      /copy its bytes into an ArrayBuffer/,
    ],
    [
      'a function in a map key',
      () => ({ lookup: new Map([[(): void => {}, 1]]) }),
      'job.lookup<map key #0>',
      'function',
      /function values/,
    ],
    [
      'a function as a map value, named by its key',
      () => ({
        lookup: new Map<unknown, unknown>([
          ['a', 1],
          ['passengers', (): void => {}],
        ]),
      }),
      'job.lookup<map value for "passengers">',
      'function',
      /function values/,
    ],
    [
      'a function as a map value under an object key',
      () => ({ lookup: new Map<unknown, unknown>([[{}, (): void => {}]]) }),
      'job.lookup<map value for entry #0>',
      'function',
      /function values/,
    ],
    [
      'a symbol in a set',
      () => ({ tags: new Set<unknown>(['a', Symbol('b')]) }),
      'job.tags<set item #1>',
      'symbol',
      /symbol values/,
    ],
    [
      'a function under an odd key, deep in arrays',
      () => ({ 'odd key': [[0, 1, 2, { fn: (): void => {} }]] }),
      'job["odd key"][0][3].fn',
      'function',
      /function values/,
    ],
    [
      'a function inside the state of a hook',
      () => ({
        connection: new Connection('db://x', new Map<string, unknown>([['log', console.log]])),
      }),
      'job.connection<ferrySerialize state>.options<map value for "log">',
      'function',
      /function values/,
    ],
    [
      'a function in a class instance field',
      () => {
        const step = new Step('s');
        (step as unknown as Record<string, unknown>).callback = (): void => {};
        return { pipeline: { steps: [step] } };
      },
      'job.pipeline.steps[0].callback',
      'function',
      /function values/,
    ],
  ];

  it.each(cases)('%s', (_name, make, path, code, advice) => {
    const error = refusal(make());
    expect(error.path).toBe(path);
    expect(error.code).toBe(code);
    expect(error.message.startsWith(`${path}: `)).toBe(true);
    expect(error.message).toMatch(advice);
  });

  it('a getter is refused without being called', () => {
    let calls = 0;
    const stats = {};
    Object.defineProperty(stats, 'total', {
      enumerable: true,
      get: () => {
        calls += 1;
        return 1;
      },
    });
    expect(refusal({ stats }).path).toBe('job.stats.total');
    expect(calls).toBe(0);
  });

  it('an accessor array element is named by its index', () => {
    const items = [1, 2, 3];
    Object.defineProperty(items, 1, { enumerable: true, get: () => 5 });
    expect(refusal({ items }).path).toBe('job.items[1]');
  });

  it('paths start with the root name, and a shared object is named by its shortest path', () => {
    const bad = { fn: (): void => {} };
    const error = refusal({ deep: { deeper: { bad } }, shallow: bad }, 'experiment');
    expect(error.path).toBe('experiment.shallow.fn');
    expect(refusal(() => 1).path).toBe('job');
  });
});

describe('deserialization runs no code it was not given', () => {
  it('keeps __proto__, constructor and prototype keys as data without polluting prototypes', () => {
    const original = JSON.parse(
      '{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}, "prototype": 1}',
    ) as Record<string, unknown>;
    expect(Object.hasOwn(original, '__proto__')).toBe(true);
    const loaded = roundTrip({ data: original, list: [original] });
    const data = loaded.data;
    expect(Object.getPrototypeOf(data)).toBe(Object.prototype);
    expect(Object.hasOwn(data, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(data, '__proto__')?.value).toEqual({ polluted: true });
    expect(Object.keys(data)).toEqual(['__proto__', 'constructor', 'prototype']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    expect(loaded.list[0]).toBe(data);
  });

  it('a crafted __proto__ key on a class instance does not change its prototype', () => {
    const payload = tamper(new Step('x'), (document) => {
      const json = JSON.stringify(document).replace('"props":{', '"props":{"__proto__":["ref",1],');
      Object.assign(document, JSON.parse(json) as Doc);
      document.nodes.push({ type: 'object', props: { evil: true } });
    });
    const loaded = deserialize(payload, { resolveClass: makeResolver().resolveClass }) as Step;
    expect(Object.getPrototypeOf(loaded)).toBe(Step.prototype);
    expect(Object.getOwnPropertyDescriptor(loaded, '__proto__')?.value).toEqual({ evil: true });
  });

  it('restores a data property without running a setter of the same name on the prototype', () => {
    const guarded = new Guarded();
    Object.defineProperty(guarded, 'value', {
      value: 42,
      enumerable: true,
      writable: true,
      configurable: true,
    });
    const before = setterCalls.count;
    const loaded = roundTrip(guarded);
    expect(setterCalls.count).toBe(before);
    expect(loaded).toBeInstanceOf(Guarded);
    expect(Object.getOwnPropertyDescriptor(loaded, 'value')?.value).toBe(42);
    expect(Object.hasOwn(loaded, 'hijacked')).toBe(false);
  });

  it('never calls constructors', () => {
    const pipeline = new Pipeline();
    pipeline.steps.push(new Featurizer('a', []), new Step('b'));
    pipeline.parent = new Pipeline();
    const payload = transport(serialize(pipeline, { identifyClass }));
    const before = constructorCalls.count;
    const loaded = deserialize(payload, { resolveClass: makeResolver().resolveClass }) as Pipeline;
    expect(constructorCalls.count).toBe(before);
    expect(loaded.parent).toBeInstanceOf(Pipeline);
  });

  it('calls resolveClass once for each class in the table, in first-occurrence order, and for nothing else', () => {
    const pipeline = new Pipeline();
    pipeline.steps.push(new Featurizer('f', ['a']), new Step('s'), new Featurizer('g', []));
    const payload = transport(serialize({ pipeline, registry: new Registry() }, { identifyClass }));
    expect(payload.document.classes).toEqual([
      { module: 'fixtures/serialization-classes.ts', exportName: 'Pipeline' },
      { module: 'fixtures/serialization-classes.ts', exportName: 'Registry' },
      { module: 'fixtures/serialization-classes.ts', exportName: 'Featurizer' },
      { module: 'fixtures/serialization-base.ts', exportName: 'Step' },
    ]);
    const { resolveClass, calls } = makeResolver();
    deserialize(payload, { resolveClass });
    expect(calls).toEqual(payload.document.classes);
  });

  it('reports a class the resolver cannot provide as UnknownClassError, with the resolver error as cause', () => {
    const payload = transport(serialize(new Step('x'), { identifyClass }));
    const failure = new Error('not in this bundle');
    let caught: unknown;
    try {
      deserialize(payload, {
        resolveClass: () => {
          throw failure;
        },
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UnknownClassError);
    expect(caught).toBeInstanceOf(FerryError);
    expect((caught as UnknownClassError).cause).toBe(failure);
    expect((caught as UnknownClassError).reference).toEqual({
      module: 'fixtures/serialization-base.ts',
      exportName: 'Step',
    });
    expect((caught as Error).message).toContain('fixtures/serialization-base.ts#Step');
  });

  it('refuses to give a built-in value the prototype of a class that does not extend it', () => {
    const payload = tamper(new Registry(), (document) => {
      document.classes[0] = { module: 'fixtures/serialization-base.ts', exportName: 'Step' };
    });
    expect(loadError(payload)).toBeInstanceOf(PayloadFormatError);
  });

  const sample = (): unknown => ({
    step: new Step('s'),
    list: [1, 2],
    sparse: [1, , 3], // eslint-disable-line no-sparse-arrays -- a sparse array node is tampered with below
    bytes: new Float64Array([1, 2]),
    re: /x/g,
    when: new Date(0),
    vault: new Vault('k', 'l'),
  });
  const nodeOf = (document: Doc, type: string, view?: string): Record<string, unknown> => {
    const node = document.nodes.find(
      (candidate) => candidate.type === type && (view === undefined || candidate.view === view),
    );
    if (node === undefined) throw new Error(`no ${type} node`);
    return node;
  };
  const tamperings: [string, (document: Doc, blobs: Buffer) => Buffer | void][] = [
    ['an unknown format', (document) => void (document.format = 'pickle')],
    ['a newer version', (document) => void (document.version = 2)],
    ['a reference out of range', (document) => void (document.root = ['ref', 999])],
    ['a negative reference', (document) => void (document.root = ['ref', -1])],
    [
      'an unknown value tag',
      (document) => void (nodeOf(document, 'array').items = [['function', 'alert(1)'], 2]),
    ],
    [
      'a literal object as a value',
      (document) => void (nodeOf(document, 'array').items = [{ $ref: 0 }, 2]),
    ],
    ['an unknown node type', (document) => void (nodeOf(document, 'date').type = 'function')],
    ['a class index out of range', (document) => void (nodeOf(document, 'instance').class = 7)],
    ['a malformed class reference', (document) => void (document.classes[0] = { module: 1 })],
    ['a blob past the end', (document) => void (nodeOf(document, 'binary').offset = 4096)],
    [
      'a blob longer than the side-car',
      (document) => void (nodeOf(document, 'binary').byteLength = 1024),
    ],
    ['a misaligned blob', (document) => void (nodeOf(document, 'binary').offset = 4)],
    ['a partial element', (document) => void (nodeOf(document, 'binary').byteLength = 12)],
    ['an unknown view', (document) => void (nodeOf(document, 'binary').view = 'Function')],
    ['a truncated side-car', (_document, blobs) => blobs.subarray(0, 8)],
    [
      'an extra byte in the side-car',
      (_document, blobs) => Buffer.concat([blobs, Buffer.from([0])]),
    ],
    [
      'items that disagree with the length',
      (document) => void (nodeOf(document, 'array').length = 5),
    ],
    [
      'sparse entries out of order',
      (document) =>
        void (nodeOf(document, 'array', undefined).entries = [
          [1, 1],
          [0, 2],
        ]),
    ],
    [
      'props that are not a record',
      (document) => void (nodeOf(document, 'object').props = [['a', 1]]),
    ],
    [
      'a length property on an array',
      (document) => void (nodeOf(document, 'array').props = { length: 9 }),
    ],
    [
      'an index property on an array',
      (document) => void (nodeOf(document, 'array').props = { 0: 9 }),
    ],
    ['a malformed bigint', (document) => void (document.root = ['bigint', '12; alert(1)'])],
    ['invalid RegExp flags', (document) => void (nodeOf(document, 'regexp').flags = 'gq')],
    ['an invalid RegExp source', (document) => void (nodeOf(document, 'regexp').source = '(')],
    ['a date out of range', (document) => void (nodeOf(document, 'date').time = 1e300)],
    ['a missing nodes list', (document) => void delete (document as Partial<Doc>).nodes],
    [
      'a hook whose state leads back to itself',
      (document) =>
        void (nodeOf(document, 'hook').state = [
          'ref',
          document.nodes.indexOf(nodeOf(document, 'hook')),
        ]),
    ],
    [
      'a boxed value that is a reference',
      (document) => void document.nodes.push({ type: 'boxed', value: ['ref', 0] }),
    ],
  ];

  it.each(tamperings)('a document with %s is a PayloadFormatError', (_name, change) => {
    const { resolveClass, calls } = makeResolver();
    let caught: unknown;
    try {
      deserialize(tamper(sample(), change), { resolveClass });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PayloadFormatError);
    expect(caught).toBeInstanceOf(FerryError);
    // Nothing was resolved for a document that is malformed in its structure.
    if (!['a hook whose state leads back to itself', 'an invalid RegExp source'].includes(_name)) {
      expect(calls).toEqual([]);
    }
  });

  it('refuses a payload without side-car bytes', () => {
    const payload = serialize({ a: 1 }, { identifyClass });
    expect(
      loadError({ document: payload.document, blobs: 'nope' as unknown as Buffer }),
    ).toBeInstanceOf(PayloadFormatError);
  });
});

describe('determinism', () => {
  const build = (): unknown => {
    const shared = new Step('shared');
    const map = new Map<unknown, unknown>([
      [shared, new Float32Array([1, 2, 3])],
      ['k', new Set([shared, 1n])],
    ]);
    return {
      pipeline: Object.assign(new Pipeline(), { steps: [shared, new Featurizer('f', ['x'])] }),
      map,
      bytes: Buffer.from([1, 2, 3]),
      doubles: new Float64Array([0.1, 0.2]),
      vault: new Vault('v', 'w'),
    };
  };

  it('the same graph gives the same document and the same bytes', () => {
    const first = serialize(build(), { identifyClass });
    const second = serialize(build(), { identifyClass });
    expect(JSON.stringify(second.document)).toBe(JSON.stringify(first.document));
    expect(second.blobs.equals(first.blobs)).toBe(true);
    // Padding between blobs is zeros, not leftover memory.
    expect(first.blobs.subarray(3, 8).every((byte) => byte === 0)).toBe(true);
  });

  it('a round trip is stable: serializing the loaded graph gives the same payload again', () => {
    const first = serialize(build(), { identifyClass });
    const loaded = deserialize(transport(first), { resolveClass: makeResolver().resolveClass });
    const again = serialize(loaded, { identifyClass });
    expect(JSON.stringify(again.document)).toBe(JSON.stringify(first.document));
    expect(again.blobs.equals(first.blobs)).toBe(true);
  });
});

describe('a side-car handed over (ownsBlobs)', () => {
  it('lets its one large value keep the side-car memory and copies every other one', () => {
    const big = new Float64Array(4096).map((_, i) => i * 0.5);
    const small = new Uint8Array([1, 2, 3]);
    const payload = serialize({ big, small, again: big }, { identifyClass });
    // A side-car with memory of its own, as one read from its file.
    const blobs = Buffer.from(new Uint8Array(payload.blobs).buffer);
    type Loaded = { big: Float64Array; small: Uint8Array; again: Float64Array };
    const { resolveClass } = makeResolver();
    const adopted = deserialize(
      { document: payload.document, blobs },
      { resolveClass, ownsBlobs: true },
    ) as Loaded;
    expect(adopted.big).toEqual(big);
    expect(adopted.big.buffer).toBe(blobs.buffer);
    expect(adopted.again).toBe(adopted.big);
    expect(adopted.small).toEqual(small);
    expect(adopted.small.buffer).not.toBe(blobs.buffer);
    const copied = deserialize({ document: payload.document, blobs }, { resolveClass }) as Loaded;
    expect(copied.big).toEqual(big);
    expect(copied.big.buffer).not.toBe(blobs.buffer);
  });
});
