/**
 * What kind of object a value is, as far as the serializer is concerned. Brand checks (`util.types`) decide the
 * built-in kinds, so a subclass or a spoofed `Symbol.toStringTag` cannot pass for one; the prototype decides
 * between plain objects, null-prototype objects and class instances. Reads prototypes, own property
 * descriptors and the `[ferrySerialize]` method of a class; calls nothing of the value's own.
 */
import { EventEmitter } from 'node:events';
import { types } from 'node:util';
import type { NotSerializableCode } from './errors.js';
import type { BinaryViewName } from './format.js';
import { ferryDeserialize, ferrySerialize } from './hooks.js';
import { typedArrayName } from './intrinsics.js';

/**
 * A class (or, where a value is refused, any function) of whatever constructor signature. Such values are only
 * compared, named and handed to `identifyClass`/`[ferryDeserialize]`, never called as constructors.
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- see above: the signature is unknowable
export type AnyClass = Function;

/** A class's `[ferrySerialize]()` method. */
export type HookMethod = (this: object) => unknown;

export type BoxedKind = 'number' | 'string' | 'boolean' | 'bigint';

/** Built-in kinds with internal state, which a user class may extend (`class Registry extends Map`). */
export type BuiltInKind =
  | { readonly kind: 'array' }
  | { readonly kind: 'map' }
  | { readonly kind: 'set' }
  | { readonly kind: 'date' }
  | { readonly kind: 'regexp' }
  | { readonly kind: 'boxed'; readonly boxed: BoxedKind }
  | { readonly kind: 'binary'; readonly view: BinaryViewName };

export type ObjectKind =
  | { readonly kind: 'plain' }
  | { readonly kind: 'null-prototype' }
  | { readonly kind: 'instance'; readonly constructor: AnyClass }
  | { readonly kind: 'hook'; readonly constructor: AnyClass; readonly hook: HookMethod }
  | (BuiltInKind & { readonly subclass: AnyClass | undefined })
  | { readonly kind: 'refused'; readonly code: NotSerializableCode; readonly reason: string };

/** Why a function or symbol value cannot be delivered. */
export function refusePrimitive(value: unknown): ObjectKind & { kind: 'refused' } {
  if (typeof value === 'symbol') {
    return refused('symbol', 'symbol values cannot be delivered; use a string instead');
  }
  return isClass(value as AnyClass)
    ? refused(
        'class-value',
        `the class ${nameOf(value as AnyClass)} itself cannot be delivered, only data and instances; ` +
          'store an instance, or the name of the class as a string and pick the class in run()',
      )
    : refused(
        'function',
        'function values cannot be delivered; keep functions in class methods and store only data in fields',
      );
}

const PLAIN: ObjectKind = { kind: 'plain' };
const NULL_PROTOTYPE: ObjectKind = { kind: 'null-prototype' };

/** Classifies an object; never throws for odd objects, it returns a refusal with a reason instead. */
export function classifyObject(value: object): ObjectKind {
  if (types.isProxy(value)) {
    return refused(
      'proxy',
      'Proxy objects cannot be delivered; store the object the proxy wraps instead',
    );
  }
  const refusal = refuseBuiltIn(value);
  if (refusal !== undefined) {
    return refusal;
  }
  const prototype = Object.getPrototypeOf(value) as object | null;
  const constructor =
    prototype === null || prototype === Object.prototype ? undefined : constructorOf(prototype);
  if (constructor !== undefined && prototype !== null) {
    const hook = (prototype as Record<symbol, unknown>)[ferrySerialize];
    if (typeof hook === 'function') {
      return classifyHook(constructor, hook as HookMethod);
    }
  }
  const builtIn = builtInKind(value);
  if (builtIn !== undefined) {
    if (prototype === builtInPrototype(builtIn)) {
      return { ...builtIn, subclass: undefined };
    }
    if (constructor === undefined) return foreignPrototype();
    const hidden = privateStateOf(constructor);
    if (hidden !== undefined) return refusePrivateState(constructor, hidden);
    return { ...builtIn, subclass: constructor };
  }
  if (prototype === null) {
    return NULL_PROTOTYPE;
  }
  if (prototype === Object.prototype) {
    return PLAIN;
  }
  if (constructor === undefined) {
    return foreignPrototype();
  }
  if (value instanceof EventEmitter || value instanceof EventTarget) {
    return refused(
      'live-handle',
      `${nameOf(constructor)} is an event emitter, stream or socket with live state and cannot be delivered; ` +
        'open it inside run(), or give its class a [ferrySerialize]() hook that stores how to reopen it',
    );
  }
  const hidden = privateStateOf(constructor);
  if (hidden !== undefined) return refusePrivateState(constructor, hidden);
  return { kind: 'instance', constructor };
}

/**
 * Instances are rebuilt with `Object.create(Class.prototype)`, which gives them none of the class's
 * private members (`#field`, `#method()`, `get #x()`, and the hidden slot of an `accessor` field):
 * their methods would throw "Cannot read private member" in the container. So a class (or any class
 * it extends) that declares an instance private member or an `accessor` field, and has no
 * [ferrySerialize] hook, is refused at packaging time.
 *
 * How it is detected: the class's source text (`Function.prototype.toString`, which for a class is
 * its whole body) is scanned for a class element that starts with `#name` or `accessor name` and is
 * not `static`, and for the helpers compilers lower such members to (`__privateAdd(this, …)` from
 * esbuild and tsx, which is what a decorated `accessor` becomes; `__classPrivateFieldGet(this, …)`
 * from TypeScript). Limits: a body whose text merely looks like such an element at the start of a line
 * inside a template string is refused too (add the hook, which is the fix anyway); state kept
 * outside the object (a module-level WeakMap, or private fields that a compiler rewrote into
 * WeakMaps) cannot be seen and is not detected; a class whose source text is not available (a
 * native or bound function) is not scanned.
 */
export function privateStateOf(constructor: AnyClass): string | undefined {
  for (
    let current: unknown = constructor;
    typeof current === 'function' && current !== Function.prototype;
    current = Object.getPrototypeOf(current)
  ) {
    const found = scannedClasses.get(current) ?? scanClass(current);
    scannedClasses.set(current, found);
    if (found !== NONE) return found;
  }
  return undefined;
}

const NONE = '';
const scannedClasses = new WeakMap<object, string>();
/** A class element declaring an instance private member: `#x`, `#x =`, `#m(`, `get #x(`, `async *#g(`. */
const PRIVATE_ELEMENT =
  /(?:^|[;{}])\s*((?:static\b\s*)?)(?:async\s+)?(?:get\s+|set\s+)?\*?\s*(#[A-Za-z_$][\w$]*)/gm;
/** An auto-accessor field: `accessor x`, `@dec accessor x`. */
const ACCESSOR_ELEMENT =
  /(?:^|[;{}])\s*(?:@[\w$.]+(?:\([^)]*\))?\s*)*((?:static\b\s*)?)accessor\s+([A-Za-z_$#[][\w$\]]*)/gm;
/**
 * Private members a compiler lowered (decorated `accessor` fields under esbuild or tsx, `#fields`
 * for old targets): esbuild's `__privateAdd(this, _x)` and TypeScript's `__classPrivateFieldGet(this, …)`.
 */
const LOWERED_PRIVATE =
  /__privateAdd\(\s*this\s*,\s*_?([\w$]+)|__classPrivateField(?:Get|Set|In)\(\s*this\s*,\s*_?([\w$]+)/;

function scanClass(candidate: object): string {
  let source: string;
  try {
    source = Function.prototype.toString.call(candidate);
  } catch (error) {
    // A callable the engine cannot print (a revoked proxy): nothing to scan.
    if (error instanceof TypeError) return NONE;
    throw error;
  }
  if (!source.startsWith('class')) return NONE;
  for (const match of source.matchAll(PRIVATE_ELEMENT)) {
    if (match[1] === '') return `private member ${match[2]}`;
  }
  for (const match of source.matchAll(ACCESSOR_ELEMENT)) {
    if (match[1] === '') return `accessor field ${match[2]}`;
  }
  const lowered = LOWERED_PRIVATE.exec(source);
  if (lowered !== null) return `private member ${lowered[1] ?? lowered[2]} (as compiled)`;
  return NONE;
}

function refusePrivateState(constructor: AnyClass, hidden: string): ObjectKind {
  const name = nameOf(constructor);
  return refused(
    'private-state',
    `an instance of class ${name} keeps state in its ${hidden}, which cannot be delivered (instances are ` +
      'rebuilt without calling the constructor, so its methods would fail with "Cannot read private member"); ' +
      `give ${name} a [ferrySerialize]() method returning its state and a static [ferryDeserialize](state) ` +
      "rebuilding it (import { ferrySerialize, ferryDeserialize } from 'ferry'), or keep the state in ordinary properties",
  );
}

/** A readable name for a class in messages. */
export function nameOf(constructor: AnyClass): string {
  const name = Object.getOwnPropertyDescriptor(constructor, 'name')?.value as unknown;
  return typeof name === 'string' && name !== '' ? name : '<anonymous class>';
}

function classifyHook(constructor: AnyClass, hook: HookMethod): ObjectKind {
  const rebuild: unknown = (constructor as unknown as Record<symbol, unknown>)[ferryDeserialize];
  if (typeof rebuild !== 'function') {
    return refused(
      'hook-missing-deserialize',
      `class ${nameOf(constructor)} defines [ferrySerialize]() but no static [ferryDeserialize](state); ` +
        'add the static method so the instance can be rebuilt on load',
    );
  }
  return { kind: 'hook', constructor, hook };
}

function refuseBuiltIn(value: object): (ObjectKind & { kind: 'refused' }) | undefined {
  if (types.isPromise(value)) {
    return refused(
      'promise',
      'a Promise cannot be delivered (it is a pending computation, not data); ' +
        'await it before packaging and store its result, or start the work in run()',
    );
  }
  if (types.isWeakMap(value) || types.isWeakSet(value)) {
    const kind = types.isWeakMap(value) ? 'WeakMap' : 'WeakSet';
    return refused(
      'weak-collection',
      `a ${kind} cannot be delivered (its entries cannot be listed); use a ${kind.slice(4)} or rebuild it in run()`,
    );
  }
  if (value instanceof WeakRef || value instanceof FinalizationRegistry) {
    return refused(
      'weak-ref',
      'a WeakRef or FinalizationRegistry cannot be delivered; store the target itself or create the reference in run()',
    );
  }
  if (types.isSymbolObject(value)) {
    return refused('symbol', 'boxed symbol values cannot be delivered; use a string instead');
  }
  if (types.isSharedArrayBuffer(value)) {
    return refused(
      'shared-memory',
      'a SharedArrayBuffer cannot be delivered; copy its bytes into an ArrayBuffer or a typed array',
    );
  }
  if (types.isNativeError(value)) {
    return refused(
      'error-object',
      'Error objects cannot be delivered; store the message and any details as plain data',
    );
  }
  if (types.isGeneratorObject(value) || types.isMapIterator(value) || types.isSetIterator(value)) {
    return refused(
      'unsupported-object',
      'generators and iterators cannot be delivered (they are running computations); store the values they produce, e.g. in an array',
    );
  }
  if (types.isModuleNamespaceObject(value)) {
    return refused(
      'unsupported-object',
      'a module namespace object cannot be delivered; import the module in run() instead',
    );
  }
  return undefined;
}

function builtInKind(value: object): BuiltInKind | undefined {
  if (Array.isArray(value)) return { kind: 'array' };
  if (types.isMap(value)) return { kind: 'map' };
  if (types.isSet(value)) return { kind: 'set' };
  if (types.isDate(value)) return { kind: 'date' };
  if (types.isRegExp(value)) return { kind: 'regexp' };
  if (types.isArrayBuffer(value)) return { kind: 'binary', view: 'ArrayBuffer' };
  if (types.isDataView(value)) return { kind: 'binary', view: 'DataView' };
  if (types.isTypedArray(value)) {
    return { kind: 'binary', view: Buffer.isBuffer(value) ? 'Buffer' : typedArrayName(value) };
  }
  if (types.isNumberObject(value)) return { kind: 'boxed', boxed: 'number' };
  if (types.isStringObject(value)) return { kind: 'boxed', boxed: 'string' };
  if (types.isBooleanObject(value)) return { kind: 'boxed', boxed: 'boolean' };
  if (types.isBigIntObject(value)) return { kind: 'boxed', boxed: 'bigint' };
  return undefined;
}

/** The prototype of the built-in constructor for a kind (`Map.prototype`), which needs no class reference. */
export function builtInPrototype(kind: BuiltInKind): object {
  switch (kind.kind) {
    case 'array':
      return Array.prototype;
    case 'map':
      return Map.prototype;
    case 'set':
      return Set.prototype;
    case 'date':
      return Date.prototype;
    case 'regexp':
      return RegExp.prototype;
    case 'boxed':
      return boxedPrototype(kind.boxed);
    case 'binary':
      return binaryPrototype(kind.view);
  }
}

function boxedPrototype(kind: BoxedKind): object {
  switch (kind) {
    case 'number':
      return Number.prototype;
    case 'string':
      return String.prototype;
    case 'boolean':
      return Boolean.prototype;
    case 'bigint':
      return BigInt.prototype;
  }
}

function binaryPrototype(view: BinaryViewName): object {
  return view === 'Buffer' ? Buffer.prototype : globalThis[view].prototype;
}

/** The class whose `prototype` this is, read from the own `constructor` data property, if it agrees. */
function constructorOf(prototype: object): AnyClass | undefined {
  const constructor: unknown = Object.getOwnPropertyDescriptor(prototype, 'constructor')?.value;
  if (typeof constructor !== 'function') {
    return undefined;
  }
  const ownPrototype: unknown = Object.getOwnPropertyDescriptor(constructor, 'prototype')?.value;
  return ownPrototype === prototype ? constructor : undefined;
}

function foreignPrototype(): ObjectKind {
  return refused(
    'foreign-prototype',
    'an object whose prototype is not the prototype of a class (e.g. made with Object.create(other)) cannot be ' +
      'delivered; use a plain object or an instance of a class exported from the source root',
  );
}

function isClass(fn: AnyClass): boolean {
  return Function.prototype.toString.call(fn).startsWith('class');
}

function refused(code: NotSerializableCode, reason: string): ObjectKind & { kind: 'refused' } {
  return { kind: 'refused', code, reason };
}
