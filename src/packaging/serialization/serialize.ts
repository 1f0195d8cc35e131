import { BlobWriter } from './blobs.js';
import { NotSerializableError } from './errors.js';
import {
  type ArrayNode,
  type BinaryNode,
  type BoxedNode,
  type DateNode,
  type DocNode,
  type MapNode,
  type RegExpNode,
  type SetNode,
  type DocProps,
  type DocValue,
  FORMAT,
  FORMAT_VERSION,
  type GraphDocument,
  PLATFORM_BYTE_ORDER,
  arrayIndexOf,
  propKeys,
  putProp,
} from './format.js';
import { findHookOnCycle } from './graph.js';
import {
  arrayBufferBytes,
  dateTime,
  forEachMapEntry,
  forEachSetValue,
  regExpParts,
  unboxPrimitive,
  viewBytes,
} from './intrinsics.js';
import { type GraphPath, childPath, type PathStep, renderPath, rootPath } from './paths.js';
import type { ClassIdentifier, ClassReference, SerializedPayload } from './types.js';
import {
  type AnyClass,
  type BuiltInKind,
  type HookMethod,
  classifyObject,
  nameOf,
  type ObjectKind,
  refusePrimitive,
} from './valueKinds.js';

export interface SerializeOptions {
  /** Where each class of the graph's instances is exported; `undefined` refuses the instance. */
  readonly identifyClass: ClassIdentifier;
  /** The name paths in error messages start with. Default `job`. */
  readonly rootName?: string;
  /**
   * How many levels below the root an object may first be reached (breadth-first). Default
   * {@link MAX_GRAPH_DEPTH}; deeper graphs are refused rather than left for the job to recurse into.
   */
  readonly maxDepth?: number;
}

/** Levels of nesting a payload may have: far past any real job, short of exhausting memory on paths. */
export const MAX_GRAPH_DEPTH = 1_000_000;

/**
 * Turns an object graph into a JSON-safe document plus side-car bytes (see `format.ts` for the shape).
 *
 * Instances are stored by class reference and own enumerable data properties; a class may take over with the
 * {@link ferrySerialize} hook. Anything that cannot be rebuilt faithfully on the other side (functions,
 * symbols, promises, weak collections, live handles, accessors, instances of classes `identifyClass` does not
 * know) throws {@link NotSerializableError} naming its path, e.g. `job.source.reader`.
 *
 * Deterministic: the same graph gives the same document and the same bytes. Iterative, so deep graphs do not
 * exhaust the call stack; binary values are copied once into the side-car, with no per-element work.
 */
export function serialize(value: unknown, options: SerializeOptions): SerializedPayload {
  const encoder = new GraphEncoder(options.identifyClass, options.maxDepth ?? MAX_GRAPH_DEPTH);
  const root = encoder.encode(value, rootPath(options.rootName ?? 'job'));
  return encoder.finish(root);
}

/** Marks a missing (or non-enumerable) property; never a value of the graph. */
const ABSENT: unique symbol = Symbol('absent');

/** Arrays up to this length are scanned index by index; longer ones through their keys (they must be sparse). */
const INDEX_SCAN_LIMIT = 2 ** 24;

type ArrayElements =
  | { readonly items: DocValue[]; readonly entries?: undefined; readonly count: number }
  | { readonly items?: undefined; readonly entries: [number, DocValue][]; readonly count: number };

type BuiltInNode = ArrayNode | MapNode | SetNode | DateNode | RegExpNode | BoxedNode | BinaryNode;

/** An object met in the graph and numbered, waiting to be written as a node. */
interface PendingObject {
  readonly value: object;
  readonly kind: EncodableKind;
  readonly classIndex: number | undefined;
  readonly path: GraphPath;
  /** Levels below the root where the object is first reached. */
  readonly depth: number;
}

type EncodableKind = Exclude<ObjectKind, { kind: 'refused' }>;

class GraphEncoder {
  readonly #identifyClass: ClassIdentifier;
  readonly #ids = new Map<object, number>();
  /** Objects by node index; written breadth-first, so numbering follows first occurrence. */
  readonly #pending: PendingObject[] = [];
  readonly #nodes: DocNode[] = [];
  /** One `['ref', id]` per node, shared by every reference to it. */
  readonly #refs: DocValue[] = [];
  readonly #classes = new ClassTable();
  readonly #blobs = new BlobWriter();

  readonly #maxDepth: number;
  /** Depth of the object whose children are being encoded (-1 while the root is). */
  #depth = -1;

  constructor(identifyClass: ClassIdentifier, maxDepth: number) {
    this.#identifyClass = identifyClass;
    this.#maxDepth = maxDepth;
  }

  /** Encodes a value; objects get a node number now and are written later, so this never recurses. */
  encode(value: unknown, path: GraphPath): DocValue {
    switch (typeof value) {
      case 'undefined':
        return ['undefined'];
      case 'boolean':
      case 'string':
        return value;
      case 'number':
        return encodeNumber(value);
      case 'bigint':
        return ['bigint', value.toString()];
      case 'symbol':
      case 'function': {
        const refusal = refusePrimitive(value);
        throw new NotSerializableError(renderPath(path), refusal.code, refusal.reason);
      }
      case 'object':
        return value === null ? null : this.#reference(value, path);
    }
  }

  /** Encodes a child of the object at `parent`, creating its path record only when the child needs one. */
  #child(value: unknown, parent: GraphPath, step: PathStep, key: unknown, index: number): DocValue {
    if (
      value === null ||
      (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol')
    ) {
      return this.encode(value, parent);
    }
    return this.encode(value, childPath(parent, step, key, index));
  }

  #reference(value: object, path: GraphPath): DocValue {
    const known = this.#ids.get(value);
    if (known !== undefined) {
      return this.#refs[known] as DocValue;
    }
    const kind = classifyObject(value);
    if (kind.kind === 'refused') {
      throw new NotSerializableError(renderPath(path), kind.code, kind.reason);
    }
    const depth = this.#depth + 1;
    if (depth > this.#maxDepth) {
      throw new NotSerializableError(
        renderPath(path, 12),
        'too-deep',
        `the object graph is nested more than ${this.#maxDepth} levels deep; store long chains as arrays ` +
          '(a list of items rather than items that each point to the next)',
      );
    }
    const classIndex = this.#classIndexFor(kind, path);
    const id = this.#pending.length;
    this.#ids.set(value, id);
    this.#pending.push({ value, kind, classIndex, path, depth });
    const ref: DocValue = ['ref', id];
    this.#refs.push(ref);
    return ref;
  }

  #classIndexFor(kind: EncodableKind, path: GraphPath): number | undefined {
    const constructor =
      kind.kind === 'instance' || kind.kind === 'hook'
        ? kind.constructor
        : kind.kind === 'plain' || kind.kind === 'null-prototype'
          ? undefined
          : kind.subclass;
    if (constructor === undefined) {
      return undefined;
    }
    const index = this.#classes.indexOf(constructor, this.#identifyClass);
    if (index === undefined) {
      const name = nameOf(constructor);
      throw new NotSerializableError(
        renderPath(path),
        'unexported-class',
        `an instance of class ${name} cannot be delivered because ${name} is not exported from a module under ` +
          'the source root; export the class from a module under the source root, or store plain data instead',
      );
    }
    return index;
  }

  finish(root: DocValue): SerializedPayload {
    for (let index = 0; index < this.#pending.length; index += 1) {
      const pending = this.#pending[index] as PendingObject;
      this.#depth = pending.depth;
      this.#nodes.push(this.#write(pending));
    }
    this.#refuseHookCycles();
    const document: GraphDocument = {
      format: FORMAT,
      version: FORMAT_VERSION,
      classes: this.#classes.references,
      root,
      nodes: this.#nodes,
      binary: { byteLength: this.#blobs.byteLength, byteOrder: PLATFORM_BYTE_ORDER },
    };
    return { document, blobs: this.#blobs.finish() };
  }

  #refuseHookCycles(): void {
    const hook = findHookOnCycle(this.#nodes);
    if (hook === undefined) {
      return;
    }
    const pending = this.#pending[hook] as PendingObject;
    const name = pending.kind.kind === 'hook' ? nameOf(pending.kind.constructor) : 'the class';
    throw new NotSerializableError(
      renderPath(pending.path),
      'hook-cycle',
      `the state that [ferrySerialize]() of class ${name} returns leads back to the instance itself, which cannot be ` +
        'rebuilt (the instance does not exist until its state does); leave the back-reference out of the state ' +
        'and restore it in [ferryDeserialize]',
    );
  }

  #write(pending: PendingObject): DocNode {
    const { value, kind, classIndex, path } = pending;
    switch (kind.kind) {
      case 'plain':
        return { type: 'object', props: this.#props(value, path) };
      case 'null-prototype':
        return { type: 'null-prototype', props: this.#props(value, path) };
      case 'instance':
        return { type: 'instance', class: classIndex as number, props: this.#props(value, path) };
      case 'hook':
        return {
          type: 'hook',
          class: classIndex as number,
          state: this.#child(
            callHook(value, kind.hook, path, kind.constructor),
            path,
            'label',
            'ferrySerialize state',
            0,
          ),
        };
      default:
        return withClass(this.#writeBuiltIn(value, kind, path), classIndex);
    }
  }

  #writeBuiltIn(value: object, kind: BuiltInKind, path: GraphPath): BuiltInNode {
    switch (kind.kind) {
      case 'array':
        return this.#writeArray(value as unknown[], path);
      case 'map':
        return withProps(
          { type: 'map', entries: this.#mapEntries(value as Map<unknown, unknown>, path) },
          this.#props(value, path),
        );
      case 'set':
        return withProps(
          { type: 'set', values: this.#setValues(value as Set<unknown>, path) },
          this.#props(value, path),
        );
      case 'date': {
        const time = dateTime(value as Date);
        return withProps(
          { type: 'date', time: Number.isNaN(time) ? null : time },
          this.#props(value, path),
        );
      }
      case 'regexp': {
        const { source, flags } = regExpParts(value as RegExp);
        const lastIndex: unknown = Object.getOwnPropertyDescriptor(value, 'lastIndex')?.value;
        return withProps(
          {
            type: 'regexp',
            source,
            flags,
            lastIndex: this.#child(lastIndex, path, 'property', 'lastIndex', 0),
          },
          this.#props(value, path),
        );
      }
      case 'boxed':
        return { type: 'boxed', value: this.encode(unboxPrimitive(value, kind.boxed), path) };
      case 'binary': {
        const bytes =
          kind.view === 'ArrayBuffer'
            ? arrayBufferBytes(value as ArrayBuffer)
            : viewBytes(value as ArrayBufferView, kind.view === 'DataView');
        return {
          type: 'binary',
          view: kind.view,
          offset: this.#blobs.append(bytes),
          byteLength: bytes.byteLength,
        };
      }
    }
  }

  #writeArray(array: unknown[], path: GraphPath): ArrayNode {
    const length = array.length;
    const elements =
      length <= INDEX_SCAN_LIMIT
        ? this.#elementsByIndex(array, path)
        : this.#elementsByKey(array, path);
    const node: ArrayNode =
      elements.entries === undefined
        ? { type: 'array', length, items: elements.items }
        : { type: 'array', length, entries: elements.entries };
    return withProps(node, this.#namedArrayProps(array, elements.count, path));
  }

  /** Elements of a not-too-long array, index by index: cheap for dense arrays, the usual case. */
  #elementsByIndex(array: unknown[], path: GraphPath): ArrayElements {
    const items: DocValue[] = [];
    let entries: [number, DocValue][] | undefined;
    for (let index = 0; index < array.length; index += 1) {
      const value = this.#ownData(array, index, path, 'index', index);
      if (value === ABSENT) {
        entries ??= items.map((item, position): [number, DocValue] => [position, item]);
        continue;
      }
      const encoded = this.#child(value, path, 'index', undefined, index);
      if (entries === undefined) {
        items.push(encoded);
      } else {
        entries.push([index, encoded]);
      }
    }
    return entries === undefined
      ? { items, count: items.length }
      : { entries, count: entries.length };
  }

  /** Elements of a very long (so surely sparse) array, from its keys, which list indices first, ascending. */
  #elementsByKey(array: unknown[], path: GraphPath): ArrayElements {
    const entries: [number, DocValue][] = [];
    for (const key of Object.keys(array)) {
      const index = arrayIndexOf(key);
      if (index === undefined) {
        break;
      }
      const value = this.#ownData(array, key, path, 'index', index);
      if (value !== ABSENT) {
        entries.push([index, this.#child(value, path, 'index', undefined, index)]);
      }
    }
    return entries.length === array.length
      ? { items: entries.map(([, value]) => value), count: entries.length }
      : { entries, count: entries.length };
  }

  /** Own enumerable properties of an array that are not elements (`Object.keys` lists the elements first). */
  #namedArrayProps(array: unknown[], elementCount: number, path: GraphPath): DocProps {
    this.#refuseSymbolKeys(array, path);
    const keys = Object.keys(array);
    let first = elementCount;
    while (first < keys.length && arrayIndexOf(keys[first] as string) !== undefined) {
      first += 1;
    }
    return this.#dataProps(array, keys.slice(first), path);
  }

  #mapEntries(map: Map<unknown, unknown>, path: GraphPath): [DocValue, DocValue][] {
    const entries: [DocValue, DocValue][] = [];
    forEachMapEntry(map, (key, value) => {
      const index = entries.length;
      entries.push([
        this.#child(key, path, 'map-key', undefined, index),
        this.#child(value, path, 'map-value', key, index),
      ]);
    });
    return entries;
  }

  #setValues(set: Set<unknown>, path: GraphPath): DocValue[] {
    const values: DocValue[] = [];
    forEachSetValue(set, (value) => {
      values.push(this.#child(value, path, 'set-item', undefined, values.length));
    });
    return values;
  }

  /** Own enumerable data properties, in order. */
  #props(value: object, path: GraphPath): DocProps {
    this.#refuseSymbolKeys(value, path);
    return this.#dataProps(value, Object.keys(value), path);
  }

  #dataProps(owner: object, keys: readonly string[], path: GraphPath): DocProps {
    const props: Record<string, DocValue> = {};
    for (const key of keys) {
      const value = this.#ownData(owner, key, path, 'property', 0);
      if (value !== ABSENT) {
        putProp(props, key, this.#child(value, path, 'property', key, 0));
      }
    }
    return props;
  }

  #refuseSymbolKeys(owner: object, parent: GraphPath): void {
    for (const key of Object.getOwnPropertySymbols(owner)) {
      if (Object.getOwnPropertyDescriptor(owner, key)?.enumerable === true) {
        throw new NotSerializableError(
          renderPath(childPath(parent, 'property', key, 0)),
          'symbol-key',
          `a property keyed by the symbol ${key.toString()} cannot be delivered; use a string key, or make the ` +
            'property non-enumerable if it need not travel',
        );
      }
    }
  }

  /** An own enumerable data property's value, read from its descriptor (so no getter runs), or ABSENT. */
  #ownData(
    owner: object,
    key: string | number,
    parent: GraphPath,
    step: 'property' | 'index',
    index: number,
  ): unknown {
    const descriptor = Object.getOwnPropertyDescriptor(owner, key);
    if (descriptor === undefined || descriptor.enumerable !== true) {
      return ABSENT;
    }
    if (descriptor.get !== undefined || descriptor.set !== undefined) {
      throw new NotSerializableError(
        renderPath(childPath(parent, step, key, index)),
        'accessor',
        'getter/setter properties cannot be delivered; store the value in a plain data field, or compute it ' +
          'in a method',
      );
    }
    return descriptor.value as unknown;
  }
}

/** Class references by first occurrence; one entry per distinct reference. */
class ClassTable {
  readonly references: ClassReference[] = [];
  readonly #byConstructor = new Map<AnyClass, number | undefined>();
  readonly #byKey = new Map<string, number>();

  indexOf(constructor: AnyClass, identifyClass: ClassIdentifier): number | undefined {
    if (this.#byConstructor.has(constructor)) {
      return this.#byConstructor.get(constructor);
    }
    const found = identifyClass(constructor);
    const index = found === undefined ? undefined : this.#add(found);
    this.#byConstructor.set(constructor, index);
    return index;
  }

  #add(found: ClassReference): number {
    const reference: ClassReference = { module: found.module, exportName: found.exportName };
    const key = `${reference.module}#${reference.exportName}`;
    const known = this.#byKey.get(key);
    if (known !== undefined) {
      return known;
    }
    this.#byKey.set(key, this.references.length);
    this.references.push(reference);
    return this.references.length - 1;
  }
}

function callHook(
  value: object,
  hook: HookMethod,
  path: GraphPath,
  constructor: AnyClass,
): unknown {
  try {
    return Reflect.apply(hook, value, []) as unknown;
  } catch (error) {
    throw new NotSerializableError(
      renderPath(path),
      'hook-failed',
      `[ferrySerialize]() of class ${nameOf(constructor)} threw: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

function encodeNumber(value: number): DocValue {
  if (Number.isNaN(value)) return ['number', 'NaN'];
  if (value === Infinity) return ['number', 'Infinity'];
  if (value === -Infinity) return ['number', '-Infinity'];
  if (Object.is(value, -0)) return ['number', '-0'];
  return value;
}

function withProps<Node extends DocNode>(node: Node, props: DocProps): Node {
  return isEmpty(props) ? node : { ...node, props };
}

function isEmpty(props: DocProps): boolean {
  return propKeys(props).length === 0;
}

/** Built-in nodes carry the class of the user subclass their value was an instance of. */
function withClass(node: BuiltInNode, classIndex: number | undefined): BuiltInNode {
  return classIndex === undefined ? node : { ...node, class: classIndex };
}
