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
  type DocProp,
  type DocValue,
  FORMAT,
  FORMAT_VERSION,
  type GraphDocument,
  PLATFORM_BYTE_ORDER,
  arrayIndexOf,
} from './format.js';
import { childrenOf, findHookOnCycle } from './graph.js';
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
  type BuiltInKind,
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
}

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
  const encoder = new GraphEncoder(options.identifyClass);
  const root = encoder.encode(value, rootPath(options.rootName ?? 'job'));
  return encoder.finish(root);
}

type BuiltInNode = ArrayNode | MapNode | SetNode | DateNode | RegExpNode | BoxedNode | BinaryNode;

/** An object met in the graph and numbered, waiting to be written as a node. */
interface PendingObject {
  readonly value: object;
  readonly kind: EncodableKind;
  readonly classIndex: number | undefined;
  readonly path: GraphPath;
}

type EncodableKind = Exclude<ObjectKind, { kind: 'refused' }>;

class GraphEncoder {
  readonly #identifyClass: ClassIdentifier;
  readonly #ids = new Map<object, number>();
  /** Objects by node index; written breadth-first, so numbering follows first occurrence. */
  readonly #pending: PendingObject[] = [];
  readonly #nodes: DocNode[] = [];
  readonly #classes = new ClassTable();
  readonly #blobs = new BlobWriter();

  constructor(identifyClass: ClassIdentifier) {
    this.#identifyClass = identifyClass;
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
      return ['ref', known];
    }
    const kind = classifyObject(value);
    if (kind.kind === 'refused') {
      throw new NotSerializableError(renderPath(path), kind.code, kind.reason);
    }
    const classIndex = this.#classIndexFor(kind, path);
    const id = this.#pending.length;
    this.#ids.set(value, id);
    this.#pending.push({ value, kind, classIndex, path });
    return ['ref', id];
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
      this.#nodes.push(this.#write(this.#pending[index] as PendingObject));
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
    const hook = findHookOnCycle(this.#nodes, this.#nodes.map(childrenOf));
    if (hook === undefined) {
      return;
    }
    const pending = this.#pending[hook] as PendingObject;
    const name = pending.kind.kind === 'hook' ? nameOf(pending.kind.constructor) : 'the class';
    throw new NotSerializableError(
      renderPath(pending.path),
      'hook-cycle',
      `the state [ferrySerialize]() of class ${name} returns leads back to the instance itself, which cannot be ` +
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
    const entries: [number, DocValue][] = [];
    const props: DocProp[] = [];
    for (const key of Reflect.ownKeys(array)) {
      const index = typeof key === 'string' ? arrayIndexOf(key) : undefined;
      if (index === undefined) {
        this.#addProp(props, array, key, path);
        continue;
      }
      const value = this.#dataValue(array, key, path, 'index', index);
      if (value.present) {
        entries.push([index, this.#child(value.value, path, 'index', undefined, index)]);
      }
    }
    const node =
      entries.length === length
        ? { type: 'array' as const, length, items: entries.map(([, value]) => value) }
        : { type: 'array' as const, length, entries };
    return withProps(node, props);
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
  #props(value: object, path: GraphPath): DocProp[] {
    const props: DocProp[] = [];
    for (const key of Reflect.ownKeys(value)) {
      this.#addProp(props, value, key, path);
    }
    return props;
  }

  #addProp(props: DocProp[], owner: object, key: string | symbol, parent: GraphPath): void {
    const property = this.#dataValue(owner, key, parent, 'property', 0);
    if (!property.present) {
      return;
    }
    if (typeof key === 'symbol') {
      throw new NotSerializableError(
        renderPath(childPath(parent, 'property', key, 0)),
        'symbol-key',
        `a property keyed by the symbol ${key.toString()} cannot be delivered; use a string key, or make the ` +
          'property non-enumerable if it need not travel',
      );
    }
    props.push([key, this.#child(property.value, parent, 'property', key, 0)]);
  }

  /** An own enumerable data property's value, read from its descriptor (so no getter runs). */
  #dataValue(
    owner: object,
    key: string | symbol,
    parent: GraphPath,
    step: 'property' | 'index',
    index: number,
  ): { present: false } | { present: true; value: unknown } {
    const descriptor = Object.getOwnPropertyDescriptor(owner, key);
    if (descriptor === undefined || descriptor.enumerable !== true) {
      return { present: false };
    }
    if (descriptor.get !== undefined || descriptor.set !== undefined) {
      throw new NotSerializableError(
        renderPath(childPath(parent, step, key, index)),
        'accessor',
        'getter/setter properties cannot be delivered; store the value in a plain data field, or compute it ' +
          'in a method',
      );
    }
    return { present: true, value: descriptor.value as unknown };
  }
}

/** Class references by first occurrence; one entry per distinct reference. */
class ClassTable {
  readonly references: ClassReference[] = [];
  readonly #byConstructor = new Map<Function, number | undefined>();
  readonly #byKey = new Map<string, number>();

  indexOf(constructor: Function, identifyClass: ClassIdentifier): number | undefined {
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

function callHook(value: object, hook: Function, path: GraphPath, constructor: Function): unknown {
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

function withProps<Node extends DocNode>(node: Node, props: readonly DocProp[]): Node {
  return props.length === 0 ? node : { ...node, props };
}

/** Built-in nodes carry the class of the user subclass their value was an instance of. */
function withClass(node: BuiltInNode, classIndex: number | undefined): BuiltInNode {
  return classIndex === undefined ? node : { ...node, class: classIndex };
}
