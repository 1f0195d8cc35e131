/**
 * The private shape of a {@link SerializedDocument} (format `ferry-graph`, version 1).
 *
 * ```text
 * { format: 'ferry-graph', version: 1,
 *   classes: [{ module, exportName }, …],        // by first occurrence; nodes point into it by index
 *   root: Value,                                 // the job itself, usually ['ref', 0]
 *   nodes: [Node, …],                            // every object once, numbered in breadth-first order
 *   binary: { byteLength, byteOrder } }          // the side-car `blobs` Buffer: its size and byte order
 * ```
 *
 * A Value is a JSON `null`, boolean, string or finite number (not `-0`), or a tag (a JSON array is never a
 * literal value): `['undefined']`, `['number', 'NaN' | 'Infinity' | '-Infinity' | '-0']`,
 * `['bigint', '<decimal>']`, `['ref', <node index>]`. Shared references and cycles are refs to one node.
 *
 * Nodes are records `{ type, … }`; `class` (an index into `classes`) appears on `instance` and `hook` nodes,
 * and on built-in kinds whose prototype is a subclass's (`class Registry extends Map`). `props` holds own
 * enumerable string-keyed data properties as `{ key: Value }` in their original order. Binary values
 * name a range of the side-car bytes: `offset` is a multiple of 8.
 */
import type { SerializedDocument } from './types.js';

export const FORMAT = 'ferry-graph';
export const FORMAT_VERSION = 1;
/** Offsets of binary values in the side-car bytes are multiples of this, so any typed array can view them. */
export const BLOB_ALIGNMENT = 8;

export type SpecialNumber = 'NaN' | 'Infinity' | '-Infinity' | '-0';

export type DocValue =
  | null
  | boolean
  | number
  | string
  | readonly ['undefined']
  | readonly ['number', SpecialNumber]
  | readonly ['bigint', string]
  | readonly ['ref', number];

/**
 * Own enumerable data properties, key to value, in their original order. JSON keeps the order: a JSON object,
 * like the original, lists integer-like keys first in increasing order and the others in insertion order.
 * A `__proto__` key is an own data property of the record (as `JSON.parse` makes it): use the helpers below,
 * which never read or write it through the `Object.prototype.__proto__` accessor.
 */
export type DocProps = Readonly<Record<string, DocValue>>;

/** Adds an entry to a props record being built; `__proto__` is defined, not assigned. */
export function putProp(props: Record<string, DocValue>, key: string, value: DocValue): void {
  if (key === '__proto__') {
    Object.defineProperty(props, key, {
      value,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  } else {
    props[key] = value;
  }
}

/** The keys of a props record, own ones only, in order. */
export function propKeys(props: object): string[] {
  return Object.keys(props);
}

/** The value of an own entry of a props record (for `__proto__`, the own data property, not the prototype). */
export function propValue(props: object, key: string): unknown {
  return key === '__proto__'
    ? Object.getOwnPropertyDescriptor(props, key)?.value
    : (props as Record<string, unknown>)[key];
}

/** Names of the views binary values are rebuilt as. */
export const TYPED_ARRAY_NAMES = [
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
] as const;
export type TypedArrayName = (typeof TYPED_ARRAY_NAMES)[number];
export type BinaryViewName = TypedArrayName | 'Buffer' | 'ArrayBuffer' | 'DataView';

interface WithClass {
  /** Index into `classes` when the object's prototype is a user subclass of the built-in. */
  readonly class?: number;
}
interface WithProps {
  /** Own enumerable data properties, omitted when there are none. */
  readonly props?: DocProps;
}

export interface ObjectNode {
  readonly type: 'object';
  readonly props: DocProps;
}
export interface NullPrototypeNode {
  readonly type: 'null-prototype';
  readonly props: DocProps;
}
export interface InstanceNode {
  readonly type: 'instance';
  readonly class: number;
  readonly props: DocProps;
}
export interface HookNode {
  readonly type: 'hook';
  readonly class: number;
  /** What the instance's `[ferrySerialize]()` returned. */
  readonly state: DocValue;
}
export interface ArrayNode extends WithClass, WithProps {
  readonly type: 'array';
  readonly length: number;
  /** Every element, when the array has no holes. */
  readonly items?: readonly DocValue[];
  /** `[index, value]` of the elements present, in increasing index order, when the array has holes. */
  readonly entries?: readonly (readonly [index: number, value: DocValue])[];
}
export interface MapNode extends WithClass, WithProps {
  readonly type: 'map';
  readonly entries: readonly (readonly [key: DocValue, value: DocValue])[];
}
export interface SetNode extends WithClass, WithProps {
  readonly type: 'set';
  readonly values: readonly DocValue[];
}
export interface DateNode extends WithClass, WithProps {
  readonly type: 'date';
  /** Milliseconds since the epoch; `null` for an invalid date. */
  readonly time: number | null;
}
export interface RegExpNode extends WithClass, WithProps {
  readonly type: 'regexp';
  readonly source: string;
  readonly flags: string;
  readonly lastIndex: DocValue;
}
export interface BoxedNode extends WithClass {
  readonly type: 'boxed';
  readonly value: DocValue;
}
export interface BinaryNode extends WithClass {
  readonly type: 'binary';
  readonly view: BinaryViewName;
  /** Start of the bytes in the side-car, a multiple of {@link BLOB_ALIGNMENT}. */
  readonly offset: number;
  readonly byteLength: number;
}

export type DocNode =
  | ObjectNode
  | NullPrototypeNode
  | InstanceNode
  | HookNode
  | ArrayNode
  | MapNode
  | SetNode
  | DateNode
  | RegExpNode
  | BoxedNode
  | BinaryNode;

export type ByteOrder = 'little-endian' | 'big-endian';

export interface BinaryInfo {
  /** Size of the side-car `blobs` Buffer. */
  readonly byteLength: number;
  /** Byte order of the multi-byte elements of typed arrays in the side-car bytes. */
  readonly byteOrder: ByteOrder;
}

export interface GraphDocument extends SerializedDocument {
  readonly root: DocValue;
  readonly nodes: readonly DocNode[];
  readonly binary: BinaryInfo;
}

/** Byte order of this platform, recorded on save and compared on load. */
export const PLATFORM_BYTE_ORDER: ByteOrder =
  new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 'little-endian' : 'big-endian';

/** Node indices a value refers to (at most one). */
export function refOf(value: DocValue): number | undefined {
  return typeof value === 'object' && value !== null && value[0] === 'ref' ? value[1] : undefined;
}

const LAST_ARRAY_INDEX = 2 ** 32 - 2;

/** The index a property key names when it is an array index (`"0"`, `"17"`, not `"01"` or `"-1"`). */
export function arrayIndexOf(key: string): number | undefined {
  const first = key.charCodeAt(0);
  if (!(first >= 48 && first <= 57)) {
    return undefined;
  }
  const index = Number(key);
  return Number.isInteger(index) && index <= LAST_ARRAY_INDEX && String(index) === key
    ? index
    : undefined;
}
