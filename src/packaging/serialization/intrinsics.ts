/**
 * Built-in methods and getters captured when this module loads, so reading a Map's entries or a typed array's
 * bytes never goes through a method a subclass (or a later monkey-patch) overrides.
 */
import type { TypedArrayName } from './format.js';

type Getter = (this: unknown) => unknown;

function getterOf(prototype: object, name: PropertyKey): Getter {
  const getter = Object.getOwnPropertyDescriptor(prototype, name)?.get;
  if (getter === undefined) {
    throw new TypeError(`The built-in getter ${String(name)} is missing`);
  }
  return getter as Getter;
}

function callGetter<T>(getter: Getter, target: object): T {
  return Reflect.apply(getter, target, []) as T;
}

/** A typed array as the serializer sees it: any of the eleven views, including Buffer. */
export type AnyTypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/** The typed array constructors, by the name stored in the document. */
export const TYPED_ARRAY_CONSTRUCTORS: Readonly<
  Record<
    TypedArrayName,
    {
      new (buffer: ArrayBuffer, byteOffset?: number, length?: number): AnyTypedArray;
      readonly BYTES_PER_ELEMENT: number;
    }
  >
> = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
};

const typedArrayPrototype: object = Object.getPrototypeOf(Uint8Array.prototype) as object;
const typedArrayTag = getterOf(typedArrayPrototype, Symbol.toStringTag);
const typedArrayBuffer = getterOf(typedArrayPrototype, 'buffer');
const typedArrayByteOffset = getterOf(typedArrayPrototype, 'byteOffset');
const typedArrayByteLength = getterOf(typedArrayPrototype, 'byteLength');
const dataViewBuffer = getterOf(DataView.prototype, 'buffer');
const dataViewByteOffset = getterOf(DataView.prototype, 'byteOffset');
const dataViewByteLength = getterOf(DataView.prototype, 'byteLength');
const arrayBufferByteLength = getterOf(ArrayBuffer.prototype, 'byteLength');
const regExpSource = getterOf(RegExp.prototype, 'source');
const regExpFlags = getterOf(RegExp.prototype, 'flags');
const dateGetTime = Date.prototype.getTime;
const mapForEach = Map.prototype.forEach;
const mapSet = Map.prototype.set;
const setForEach = Set.prototype.forEach;
const setAdd = Set.prototype.add;
const numberValueOf = Number.prototype.valueOf;
const stringValueOf = String.prototype.valueOf;
const booleanValueOf = Boolean.prototype.valueOf;
const bigIntValueOf = BigInt.prototype.valueOf;

/** The name of a typed array's built-in view (`Float64Array`), whatever its prototype says. */
export function typedArrayName(view: ArrayBufferView): TypedArrayName {
  return callGetter<TypedArrayName>(typedArrayTag, view);
}

/** The bytes a typed array or DataView shows (not the rest of its buffer), without copying. */
export function viewBytes(view: ArrayBufferView, isDataView: boolean): Uint8Array {
  const buffer = callGetter<ArrayBufferLike>(isDataView ? dataViewBuffer : typedArrayBuffer, view);
  const byteOffset = callGetter<number>(
    isDataView ? dataViewByteOffset : typedArrayByteOffset,
    view,
  );
  const byteLength = callGetter<number>(
    isDataView ? dataViewByteLength : typedArrayByteLength,
    view,
  );
  return new Uint8Array(buffer, byteOffset, byteLength);
}

export function arrayBufferBytes(buffer: ArrayBuffer): Uint8Array {
  return new Uint8Array(buffer, 0, callGetter<number>(arrayBufferByteLength, buffer));
}

export function regExpParts(regExp: RegExp): { source: string; flags: string } {
  return {
    source: callGetter<string>(regExpSource, regExp),
    flags: callGetter<string>(regExpFlags, regExp),
  };
}

export function dateTime(date: Date): number {
  return Reflect.apply(dateGetTime, date, []) as number;
}

export function forEachMapEntry(
  map: Map<unknown, unknown>,
  visit: (key: unknown, value: unknown) => void,
): void {
  Reflect.apply(mapForEach, map, [(value: unknown, key: unknown) => visit(key, value)]);
}

export function forEachSetValue(set: Set<unknown>, visit: (value: unknown) => void): void {
  Reflect.apply(setForEach, set, [(value: unknown) => visit(value)]);
}

export function addMapEntry(map: Map<unknown, unknown>, key: unknown, value: unknown): void {
  Reflect.apply(mapSet, map, [key, value]);
}

export function addSetValue(set: Set<unknown>, value: unknown): void {
  Reflect.apply(setAdd, set, [value]);
}

/** The primitive inside a boxed Number, String, Boolean or BigInt (boxed Symbols are refused earlier). */
export function unboxPrimitive(
  boxed: object,
  kind: 'number' | 'string' | 'boolean' | 'bigint',
): number | string | boolean | bigint {
  const valueOf = {
    number: numberValueOf,
    string: stringValueOf,
    boolean: booleanValueOf,
    bigint: bigIntValueOf,
  }[kind];
  return Reflect.apply(valueOf, boxed, []) as number | string | boolean | bigint;
}
