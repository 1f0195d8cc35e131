/**
 * Checks an untrusted document against the `ferry-graph` format and returns it typed. Everything the loader
 * later relies on is checked here: tags, node references, class indices, blob ranges against the side-car's
 * real size, array lengths, keys. Any deviation is a {@link PayloadFormatError} naming where it is.
 */
import { elementSize } from './blobs.js';
import { PayloadFormatError } from './errors.js';
import {
  BLOB_ALIGNMENT,
  type BinaryInfo,
  type BinaryViewName,
  type ByteOrder,
  type DocNode,
  type DocProps,
  propKeys,
  propValue,
  putProp,
  type DocValue,
  FORMAT,
  FORMAT_VERSION,
  TYPED_ARRAY_NAMES,
  type SpecialNumber,
  arrayIndexOf,
} from './format.js';
import type { ClassReference, SerializedDocument } from './types.js';

export interface ParsedDocument {
  readonly classes: readonly ClassReference[];
  readonly root: DocValue;
  readonly nodes: readonly DocNode[];
  readonly binary: BinaryInfo;
}

const SPECIAL_NUMBERS: ReadonlySet<string> = new Set<SpecialNumber>([
  'NaN',
  'Infinity',
  '-Infinity',
  '-0',
]);
const BINARY_VIEWS: ReadonlySet<string> = new Set<BinaryViewName>([
  ...TYPED_ARRAY_NAMES,
  'Buffer',
  'ArrayBuffer',
  'DataView',
]);
const BIGINT = /^-?(0|[1-9]\d*)$/;
const REGEXP_FLAGS = /^[dgimsuvy]*$/;
const MAX_ARRAY_LENGTH = 2 ** 32 - 1;
const MAX_TIME = 8.64e15;

type Raw = Record<string, unknown>;

/**
 * How deep a document's JSON may nest. The format itself needs 6 levels (document, nodes, node,
 * entries, pair, tag); anything deeper is not a Ferry document, and is refused before it is walked.
 */
export const MAX_DOCUMENT_DEPTH = 16;

/** Parses a document's JSON text; text that is not JSON is a {@link PayloadFormatError}. */
export function parseDocumentText(text: string, where: string): SerializedDocument {
  try {
    return JSON.parse(text) as SerializedDocument;
  } catch (error) {
    throw new PayloadFormatError(
      `not JSON (${error instanceof Error ? error.message : String(error)}); the resource is damaged`,
      where,
      { cause: error },
    );
  }
}

export function parseDocument(document: unknown, blobsLength: number): ParsedDocument {
  refuseDeepNesting(document);
  const top = record(document, 'document');
  if (top.format !== FORMAT) {
    throw new PayloadFormatError(
      `not a Ferry object graph (format ${JSON.stringify(top.format)})`,
      'document',
    );
  }
  if (top.version !== FORMAT_VERSION) {
    throw new PayloadFormatError(
      `unsupported version ${JSON.stringify(top.version)}; this Ferry reads version ${FORMAT_VERSION}`,
      'document',
    );
  }
  const binary = parseBinaryInfo(top.binary, blobsLength);
  const classes = list(top.classes, 'classes').map((raw, index) =>
    parseReference(raw, `classes[${index}]`),
  );
  const rawNodes = list(top.nodes, 'nodes');
  const context: Context = { nodeCount: rawNodes.length, classCount: classes.length, binary };
  const nodes = rawNodes.map((raw, index) => parseNode(raw, `nodes[${index}]`, context));
  const root = parseValue(top.root, 'root', context);
  return { classes, root, nodes, binary };
}

interface Context {
  readonly nodeCount: number;
  readonly classCount: number;
  readonly binary: BinaryInfo;
}

function parseBinaryInfo(raw: unknown, blobsLength: number): BinaryInfo {
  const info = record(raw, 'binary');
  const byteLength = integer(info.byteLength, 'binary.byteLength', 0, Number.MAX_SAFE_INTEGER);
  if (byteLength !== blobsLength) {
    throw new PayloadFormatError(
      `the document expects ${byteLength} bytes of binary data but the payload carries ${blobsLength}`,
      'binary.byteLength',
    );
  }
  if (info.byteOrder !== 'little-endian' && info.byteOrder !== 'big-endian') {
    throw new PayloadFormatError(
      'byteOrder must be "little-endian" or "big-endian"',
      'binary.byteOrder',
    );
  }
  return { byteLength, byteOrder: info.byteOrder as ByteOrder };
}

function parseReference(raw: unknown, where: string): ClassReference {
  const reference = record(raw, where);
  if (typeof reference.module !== 'string' || typeof reference.exportName !== 'string') {
    throw new PayloadFormatError('a class reference needs string "module" and "exportName"', where);
  }
  return Object.freeze({ module: reference.module, exportName: reference.exportName });
}

function parseNode(raw: unknown, where: string, context: Context): DocNode {
  const node = record(raw, where);
  switch (node.type) {
    case 'object':
    case 'null-prototype':
      return { type: node.type, props: parseProps(node.props, where, context, noForbiddenKey) };
    case 'instance':
      return {
        type: 'instance',
        class: parseClassIndex(node, where, context),
        props: parseProps(node.props, where, context, noForbiddenKey),
      };
    case 'hook':
      return {
        type: 'hook',
        class: parseClassIndex(node, where, context),
        state: parseValue(node.state, `${where}.state`, context),
      };
    case 'array':
      return withExtras(
        parseArrayElements(node, where, context),
        node,
        where,
        context,
        isArrayOwnKey,
      );
    case 'map':
      return withExtras(
        { type: 'map', entries: parseMapEntries(node.entries, `${where}.entries`, context) },
        node,
        where,
        context,
        noForbiddenKey,
      );
    case 'set':
      return withExtras(
        { type: 'set', values: parseValues(node.values, `${where}.values`, context) },
        node,
        where,
        context,
        noForbiddenKey,
      );
    case 'date':
      return withExtras(
        { type: 'date', time: parseTime(node.time, `${where}.time`) },
        node,
        where,
        context,
        noForbiddenKey,
      );
    case 'regexp':
      return withExtras(
        {
          type: 'regexp',
          source: string(node.source, `${where}.source`),
          flags: parseFlags(node.flags, `${where}.flags`),
          lastIndex: parseValue(node.lastIndex, `${where}.lastIndex`, context),
        },
        node,
        where,
        context,
        (key) => key === 'lastIndex',
      );
    case 'boxed':
      return withClass(
        { type: 'boxed', value: parseBoxedValue(node.value, `${where}.value`, context) },
        node,
        where,
        context,
      );
    case 'binary':
      return withClass(parseBinary(node, where, context.binary), node, where, context);
    default:
      throw new PayloadFormatError(
        `unknown node type ${JSON.stringify(node.type)}`,
        `${where}.type`,
      );
  }
}

function noForbiddenKey(): boolean {
  return false;
}

function parseClassIndex(node: Raw, where: string, context: Context): number {
  return integer(node.class, `${where}.class`, 0, context.classCount - 1);
}

/** Adds the optional `class` of a built-in node. */
function withClass<Node extends DocNode>(
  parsed: Node,
  node: Raw,
  where: string,
  context: Context,
): Node {
  return node.class === undefined
    ? parsed
    : { ...parsed, class: parseClassIndex(node, where, context) };
}

/** Adds the optional `class` and `props` of a built-in node. */
function withExtras<Node extends DocNode>(
  parsed: Node,
  node: Raw,
  where: string,
  context: Context,
  forbidden: (key: string) => boolean,
): Node {
  const classed = withClass(parsed, node, where, context);
  return node.props === undefined
    ? classed
    : { ...classed, props: parseProps(node.props, where, context, forbidden) };
}

function parseValues(raw: unknown, where: string, context: Context): DocValue[] {
  const items = list(raw, where);
  const values = new Array<DocValue>(items.length);
  for (let index = 0; index < items.length; index += 1) {
    values[index] = parseValue(items[index], where, context);
  }
  return values;
}

function parseMapEntries(
  raw: unknown,
  where: string,
  context: Context,
): (readonly [DocValue, DocValue])[] {
  return list(raw, where).map((entry) => {
    const pair = list(entry, where);
    if (pair.length !== 2) {
      throw new PayloadFormatError('a map entry is a [key, value] pair', where);
    }
    return [parseValue(pair[0], where, context), parseValue(pair[1], where, context)] as const;
  });
}

function parseArrayElements(
  node: Raw,
  where: string,
  context: Context,
): {
  type: 'array';
  length: number;
  items?: readonly DocValue[];
  entries?: readonly (readonly [number, DocValue])[];
} {
  const length = integer(node.length, `${where}.length`, 0, MAX_ARRAY_LENGTH);
  if ((node.items === undefined) === (node.entries === undefined)) {
    throw new PayloadFormatError('an array node has exactly one of "items" and "entries"', where);
  }
  if (node.items !== undefined) {
    const items = list(node.items, `${where}.items`);
    if (items.length !== length) {
      throw new PayloadFormatError(
        `${items.length} items for an array of length ${length}`,
        `${where}.items`,
      );
    }
    return {
      type: 'array',
      length,
      items: items.map((item) => parseValue(item, `${where}.items`, context)),
    };
  }
  let previous = -1;
  const entries = list(node.entries, `${where}.entries`).map((entry) => {
    const pair = list(entry, `${where}.entries`);
    const index = integer(pair[0], `${where}.entries`, previous + 1, length - 1);
    if (pair.length !== 2) {
      throw new PayloadFormatError('an array entry is an [index, value] pair', `${where}.entries`);
    }
    previous = index;
    return [index, parseValue(pair[1], `${where}.entries`, context)] as const;
  });
  return { type: 'array', length, entries };
}

function parseBinary(
  node: Raw,
  where: string,
  binary: BinaryInfo,
): { type: 'binary'; view: BinaryViewName; offset: number; byteLength: number } {
  if (typeof node.view !== 'string' || !BINARY_VIEWS.has(node.view)) {
    throw new PayloadFormatError(
      `unknown binary view ${JSON.stringify(node.view)}`,
      `${where}.view`,
    );
  }
  const view = node.view as BinaryViewName;
  const offset = integer(node.offset, `${where}.offset`, 0, binary.byteLength);
  if (offset % BLOB_ALIGNMENT !== 0) {
    throw new PayloadFormatError(
      `offset ${offset} is not a multiple of ${BLOB_ALIGNMENT}`,
      `${where}.offset`,
    );
  }
  const byteLength = integer(node.byteLength, `${where}.byteLength`, 0, binary.byteLength - offset);
  if (byteLength % elementSize(view) !== 0) {
    throw new PayloadFormatError(
      `${byteLength} bytes is not a whole number of ${view} elements`,
      `${where}.byteLength`,
    );
  }
  return { type: 'binary', view, offset, byteLength };
}

function parseProps(
  raw: unknown,
  nodeWhere: string,
  context: Context,
  forbidden: (key: string) => boolean,
): DocProps {
  const where = `${nodeWhere}.props`;
  const source = record(raw, where);
  const props: Record<string, DocValue> = {};
  for (const key of propKeys(source)) {
    if (forbidden(key)) {
      throw new PayloadFormatError(`property ${JSON.stringify(key)} is not allowed here`, where);
    }
    putProp(props, key, parseValue(propValue(source, key), where, context));
  }
  return props;
}

function parseValue(raw: unknown, where: string, context: Context): DocValue {
  switch (typeof raw) {
    case 'string':
    case 'boolean':
      return raw;
    case 'number':
      if (!Number.isFinite(raw)) {
        throw new PayloadFormatError('a literal number must be finite', where);
      }
      return raw;
    case 'object':
      return raw === null ? null : parseTag(raw, where, context);
    default:
      throw new PayloadFormatError(`a value cannot be of JSON type ${typeof raw}`, where);
  }
}

function parseTag(raw: object, where: string, context: Context): DocValue {
  if (!Array.isArray(raw)) {
    throw new PayloadFormatError('a value is a JSON literal or a [tag, …] array', where);
  }
  const [tag, payload] = raw as unknown[];
  if (tag === 'undefined' && raw.length === 1) {
    return ['undefined'];
  }
  if (raw.length === 2) {
    if (tag === 'ref') {
      return ['ref', integer(payload, where, 0, context.nodeCount - 1)];
    }
    if (tag === 'number' && typeof payload === 'string' && SPECIAL_NUMBERS.has(payload)) {
      return ['number', payload as SpecialNumber];
    }
    if (tag === 'bigint' && typeof payload === 'string' && BIGINT.test(payload)) {
      return ['bigint', payload];
    }
  }
  throw new PayloadFormatError(`unknown value tag ${preview(raw)}`, where);
}

function parseBoxedValue(raw: unknown, where: string, context: Context): DocValue {
  const value = parseValue(raw, where, context);
  const isPrimitive =
    typeof value === 'string' ||
    typeof value === 'number' ||
    typeof value === 'boolean' ||
    (value !== null && (value[0] === 'bigint' || value[0] === 'number'));
  if (!isPrimitive) {
    throw new PayloadFormatError('a boxed value holds a number, string, boolean or bigint', where);
  }
  return value;
}

function parseTime(raw: unknown, where: string): number | null {
  if (raw === null) {
    return null;
  }
  if (typeof raw !== 'number' || !Number.isInteger(raw) || Math.abs(raw) > MAX_TIME) {
    throw new PayloadFormatError(
      'a date is null or a whole number of milliseconds in range',
      where,
    );
  }
  return raw;
}

function parseFlags(raw: unknown, where: string): string {
  const flags = string(raw, where);
  if (!REGEXP_FLAGS.test(flags)) {
    throw new PayloadFormatError(
      `invalid regular expression flags ${JSON.stringify(flags)}`,
      where,
    );
  }
  return flags;
}

function isArrayOwnKey(key: string): boolean {
  return key === 'length' || arrayIndexOf(key) !== undefined;
}

function record(raw: unknown, where: string): Raw {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new PayloadFormatError('expected an object', where);
  }
  return raw as Raw;
}

function list(raw: unknown, where: string): readonly unknown[] {
  if (!Array.isArray(raw)) {
    throw new PayloadFormatError('expected an array', where);
  }
  return raw as readonly unknown[];
}

function string(raw: unknown, where: string): string {
  if (typeof raw !== 'string') {
    throw new PayloadFormatError('expected a string', where);
  }
  return raw;
}

function integer(raw: unknown, where: string, min: number, max: number): number {
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < min || raw > max) {
    throw new PayloadFormatError(
      `expected a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`,
      where,
    );
  }
  return raw;
}

/** Walks the parsed JSON with an explicit stack; past {@link MAX_DOCUMENT_DEPTH} it is refused. */
function refuseDeepNesting(document: unknown): void {
  const stack: { value: unknown; depth: number }[] = [{ value: document, depth: 1 }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { value, depth } = item;
    if (typeof value !== 'object' || value === null) continue;
    if (depth > MAX_DOCUMENT_DEPTH) {
      throw new PayloadFormatError(
        `nested more than ${MAX_DOCUMENT_DEPTH} levels deep; a Ferry document never is (damaged or forged)`,
        'document',
      );
    }
    const children = Array.isArray(value) ? value : Object.values(value);
    for (const child of children as unknown[]) {
      if (typeof child === 'object' && child !== null)
        stack.push({ value: child, depth: depth + 1 });
    }
  }
}

/** A short, bounded description of an untrusted value (never a recursive JSON.stringify). */
function preview(raw: readonly unknown[]): string {
  const parts = raw
    .slice(0, 3)
    .map((item) =>
      typeof item === 'string'
        ? JSON.stringify(item.slice(0, 30))
        : typeof item === 'object' && item !== null
          ? Array.isArray(item)
            ? '[…]'
            : '{…}'
          : String(item),
    );
  return `[${parts.join(', ')}${raw.length > 3 ? ', …' : ''}]`;
}
