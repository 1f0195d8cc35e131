import { materializeBinary } from './blobs.js';
import { PayloadFormatError, UnknownClassError } from './errors.js';
import {
  type ArrayNode,
  type DocNode,
  type DocProps,
  type DocValue,
  propKeys,
  propValue,
} from './format.js';
import { childrenOf, findHookOnCycle, walkDepthFirst } from './graph.js';
import { ferryDeserialize } from './hooks.js';
import { addMapEntry, addSetValue } from './intrinsics.js';
import { type ParsedDocument, parseDocument } from './parseDocument.js';
import type { ClassReference, ClassResolver, SerializedPayload } from './types.js';
import type { AnyClass } from './valueKinds.js';

export interface DeserializeOptions {
  /** Returns the class a reference from the document's class table names; throws when there is none. */
  readonly resolveClass: ClassResolver;
  /**
   * The caller hands `blobs` over: nothing else reads or writes them afterwards (a side-car just read
   * from its file). The one binary value that covers more than half of them is then a view of their
   * memory, not a copy. Default: false, every binary value gets memory of its own.
   */
  readonly ownsBlobs?: boolean;
}

/**
 * Rebuilds the object graph of a payload made by {@link serialize}.
 *
 * Runs no code it was not given (docs/design.md §3): the document is checked in full first (a malformed, truncated or
 * tampered one throws {@link PayloadFormatError}); `resolveClass` is called once for each entry of the
 * document's class table and for nothing else (its failure throws {@link UnknownClassError}); instances are
 * made with `Object.create(Class.prototype)`, never by calling a constructor; properties are defined with
 * `Object.defineProperty` (plain assignment is used only on objects made here from `{}` or `[]`, and only
 * while Object.prototype and Array.prototype hold no setters), so a `__proto__` key is plain data and no
 * setter runs. The only user code called is the static `[ferryDeserialize](state)` of classes that
 * serialized themselves through the hook, once their state is fully rebuilt.
 *
 * Binary values are copied out of `payload.blobs` into memory of their own (one copy, no per-element work),
 * but for the one `ownsBlobs` lets adopt.
 */
export function deserialize(payload: SerializedPayload, options: DeserializeOptions): unknown {
  const blobs: unknown = payload.blobs;
  if (!(blobs instanceof Uint8Array)) {
    throw new PayloadFormatError(
      'the payload has no binary side-car (blobs must be a Buffer)',
      'blobs',
    );
  }
  const document = parseDocument(payload.document, blobs.byteLength);
  const classes = document.classes.map((reference) => resolve(reference, options.resolveClass));
  return new GraphDecoder(document, classes, blobs, options.ownsBlobs === true).decodeRoot();
}

/** A class the resolver returned, with the prototype instances get. */
interface ResolvedClass {
  readonly reference: ClassReference;
  readonly constructor: AnyClass;
  readonly prototype: object;
}

function resolve(reference: ClassReference, resolveClass: ClassResolver): ResolvedClass {
  let constructor: unknown;
  try {
    constructor = resolveClass(reference);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new UnknownClassError(reference, `cannot be resolved: ${detail}`, { cause: error });
  }
  if (typeof constructor !== 'function') {
    throw new UnknownClassError(
      reference,
      `resolveClass returned ${typeof constructor}, not a class`,
    );
  }
  const prototype: unknown = Object.getOwnPropertyDescriptor(constructor, 'prototype')?.value;
  if (typeof prototype !== 'object' || prototype === null) {
    throw new UnknownClassError(
      reference,
      'resolveClass returned a function without a prototype object',
    );
  }
  return { reference, constructor, prototype };
}

class GraphDecoder {
  readonly #document: ParsedDocument;
  readonly #classes: readonly ResolvedClass[];
  readonly #blobs: Uint8Array;
  /** Whether a binary value may still adopt the side-car's memory (one may: two would share it). */
  #mayAdopt: boolean;
  /** Rebuilt values by node index; a node has one as soon as it is entered (hooks: once left). */
  readonly #values: unknown[];
  readonly #ready: Uint8Array;
  /** Object.prototype and Array.prototype hold no setter or read-only property (checked once per load). */
  readonly #ordinaryPrototypes = prototypesAreOrdinary();

  constructor(
    document: ParsedDocument,
    classes: readonly ResolvedClass[],
    blobs: Uint8Array,
    ownsBlobs: boolean,
  ) {
    this.#document = document;
    this.#classes = classes;
    this.#blobs = blobs;
    this.#mayAdopt = ownsBlobs;
    this.#values = new Array<unknown>(document.nodes.length);
    this.#ready = new Uint8Array(document.nodes.length);
  }

  decodeRoot(): unknown {
    const { root, nodes } = this.#document;
    if (typeof root === 'object' && root !== null && root[0] === 'ref') {
      const hook = findHookOnCycle(nodes);
      if (hook !== undefined) {
        throw new PayloadFormatError(
          'the state of a hook node leads back to the node itself',
          `nodes[${hook}]`,
        );
      }
      walkDepthFirst(
        root[1],
        nodes.length,
        (index) => childrenOf(this.#node(index)),
        (index) => this.#enter(index),
        (index) => this.#leave(index),
      );
    }
    return this.#value(root, 'root');
  }

  /** Creates the empty shell of a node, so cycles through it can refer to it before it is filled. */
  #enter(index: number): void {
    const node = this.#node(index);
    if (node.type === 'hook') {
      return;
    }
    const shell = this.#shell(node, index);
    const classIndex = 'class' in node ? node.class : undefined;
    if (classIndex !== undefined && node.type !== 'instance') {
      this.#adoptSubclass(shell, node, classIndex, index);
    }
    this.#values[index] = shell;
    this.#ready[index] = 1;
  }

  #shell(node: Exclude<DocNode, { type: 'hook' }>, index: number): object {
    switch (node.type) {
      case 'object':
        return {};
      case 'null-prototype':
        return Object.create(null) as object;
      case 'instance':
        return Object.create(this.#class(node.class).prototype) as object;
      case 'array':
        return new Array<unknown>(node.length);
      case 'map':
        return new Map();
      case 'set':
        return new Set();
      case 'date':
        return new Date(node.time ?? Number.NaN);
      case 'regexp':
        return makeRegExp(node.source, node.flags, index);
      case 'boxed':
        return Object(this.#value(node.value, `nodes[${index}].value`)) as object;
      case 'binary': {
        // More than half of the side-car: only one value can be that large.
        const adopt = this.#mayAdopt && node.byteLength * 2 > this.#blobs.byteLength;
        if (adopt) this.#mayAdopt = false;
        return materializeBinary(
          this.#blobs,
          node.view,
          node.offset,
          node.byteLength,
          this.#document.binary.byteOrder,
          adopt,
        );
      }
    }
  }

  /** Gives a built-in value the prototype of the user subclass it was an instance of. */
  #adoptSubclass(shell: object, node: DocNode, classIndex: number, index: number): void {
    const resolved = this.#class(classIndex);
    const builtInPrototype = Object.getPrototypeOf(shell) as object;
    if (!Object.prototype.isPrototypeOf.call(builtInPrototype, resolved.prototype)) {
      throw new PayloadFormatError(
        `class ${describe(resolved.reference)} does not extend the built-in a ${node.type} node needs`,
        `nodes[${index}].class`,
      );
    }
    Object.setPrototypeOf(shell, resolved.prototype);
  }

  /** Fills a node once everything it refers to exists; hooks are built here, from their finished state. */
  #leave(index: number): void {
    const node = this.#node(index);
    const where = `nodes[${index}]`;
    const target = this.#values[index] as object;
    switch (node.type) {
      case 'hook':
        this.#values[index] = this.#callHook(
          node.class,
          this.#value(node.state, `${where}.state`),
          index,
        );
        this.#ready[index] = 1;
        return;
      case 'array':
        this.#fillArray(target as unknown[], node, where);
        break;
      case 'map':
        node.entries.forEach(([key, value]) =>
          addMapEntry(
            target as Map<unknown, unknown>,
            this.#value(key, where),
            this.#value(value, where),
          ),
        );
        break;
      case 'set':
        node.values.forEach((value) =>
          addSetValue(target as Set<unknown>, this.#value(value, where)),
        );
        break;
      case 'regexp':
        (target as RegExp).lastIndex = this.#value(node.lastIndex, where) as number;
        break;
      default:
        break;
    }
    if ('props' in node && node.props !== undefined) {
      this.#defineProps(target, node.props, where, this.#assignable(node));
    }
  }

  /**
   * Whether plain assignment defines own data properties on this node's object exactly as
   * `Object.defineProperty` would (it is much faster): true for objects made here from `{}`, `[]` or
   * `Object.create(null)`, whose prototype chain holds no setter or read-only property; never for instances,
   * whose prototypes are user code.
   */
  #assignable(node: DocNode): boolean {
    switch (node.type) {
      case 'null-prototype':
        return true;
      case 'object':
        return this.#ordinaryPrototypes;
      case 'array':
        return node.class === undefined && this.#ordinaryPrototypes;
      default:
        return false;
    }
  }

  #fillArray(target: unknown[], node: ArrayNode, where: string): void {
    const assign = this.#assignable(node);
    const place = (position: number, item: DocValue): void => {
      const value = this.#value(item, where);
      if (assign) {
        target[position] = value;
      } else {
        defineData(target, position, value);
      }
    };
    node.items?.forEach((item, position) => place(position, item));
    node.entries?.forEach(([position, item]) => place(position, item));
  }

  #defineProps(target: object, props: DocProps, where: string, assign: boolean): void {
    for (const key of propKeys(props)) {
      const value = this.#value(propValue(props, key) as DocValue, `${where}.props`);
      if (assign && key !== '__proto__') {
        (target as Record<string, unknown>)[key] = value;
      } else {
        defineData(target, key, value);
      }
    }
  }

  #callHook(classIndex: number, state: unknown, index: number): unknown {
    const resolved = this.#class(classIndex);
    const rebuild: unknown = (resolved.constructor as unknown as Record<symbol, unknown>)[
      ferryDeserialize
    ];
    if (typeof rebuild !== 'function') {
      throw new PayloadFormatError(
        `class ${describe(resolved.reference)} has no static [ferryDeserialize](state) to rebuild a hook node`,
        `nodes[${index}].class`,
      );
    }
    return Reflect.apply(rebuild, resolved.constructor, [state]) as unknown;
  }

  #value(value: DocValue, where: string): unknown {
    if (value === null || typeof value !== 'object') {
      return value;
    }
    switch (value[0]) {
      case 'undefined':
        return undefined;
      case 'number':
        return value[1] === '-0' ? -0 : Number(value[1]);
      case 'bigint':
        return BigInt(value[1]);
      case 'ref':
        if (this.#ready[value[1]] !== 1) {
          throw new PayloadFormatError(`refers to node ${value[1]} before it can exist`, where);
        }
        return this.#values[value[1]];
    }
  }

  #node(index: number): DocNode {
    return this.#document.nodes[index] as DocNode;
  }

  #class(index: number): ResolvedClass {
    return this.#classes[index] as ResolvedClass;
  }
}

/**
 * True unless someone has put an accessor (other than the built-in `__proto__`) or a read-only property on
 * Object.prototype or Array.prototype, which would make `target[key] = value` run code or fail.
 */
function prototypesAreOrdinary(): boolean {
  for (const prototype of [Object.prototype, Array.prototype]) {
    for (const key of Object.getOwnPropertyNames(prototype)) {
      const descriptor = Object.getOwnPropertyDescriptor(prototype, key);
      const ordinary = descriptor !== undefined && descriptor.writable === true;
      if (!ordinary && !(prototype === Object.prototype && key === '__proto__')) {
        return false;
      }
    }
  }
  return true;
}

/** Defines an own data property: no setter on the prototype chain runs, and `__proto__` stays a key. */
function defineData(target: object, key: string | number, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

function makeRegExp(source: string, flags: string, index: number): RegExp {
  try {
    return new RegExp(source, flags);
  } catch (error) {
    throw new PayloadFormatError('invalid regular expression', `nodes[${index}].source`, {
      cause: error,
    });
  }
}

function describe(reference: ClassReference): string {
  return `${reference.module}#${reference.exportName}`;
}
