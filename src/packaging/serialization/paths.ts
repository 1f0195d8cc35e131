/**
 * Paths inside the object graph, for error messages: `job.featurizers[2].rowSelector`.
 *
 * A path is a linked list from a value back to the root, holding the raw step (a key, an index), so recording
 * one per object costs a small record and no string work; it is rendered only when an error needs it.
 */
export type PathStep =
  'root' | 'property' | 'index' | 'map-key' | 'map-value' | 'set-item' | 'label';

export interface GraphPath {
  readonly parent: GraphPath | undefined;
  readonly step: PathStep;
  /** The root name, property key, map key or label; unused for indices and set items. */
  readonly key: unknown;
  /** Array index, or position of the map entry or set item. */
  readonly index: number;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
const LONGEST_KEY_SHOWN = 40;

export function rootPath(rootName: string): GraphPath {
  return { parent: undefined, step: 'root', key: rootName, index: 0 };
}

export function childPath(
  parent: GraphPath,
  step: PathStep,
  key: unknown,
  index: number,
): GraphPath {
  return { parent, step, key, index };
}

/**
 * Renders `job.items[3].lookup<map value for "a">`. With `maxSteps`, a longer path keeps its root
 * and its last `maxSteps` steps: `job…(999,988 more)….next.next`.
 */
export function renderPath(path: GraphPath, maxSteps = Number.POSITIVE_INFINITY): string {
  const segments: string[] = [];
  let total = 0;
  for (let at: GraphPath | undefined = path; at !== undefined; at = at.parent) {
    if (segments.length < maxSteps || at.parent === undefined) segments.push(renderStep(at));
    total += 1;
  }
  if (total > segments.length) {
    const root = segments.pop() as string;
    segments.push(`…(${(total - segments.length - 1).toLocaleString('en-US')} more)…`, root);
  }
  return segments.reverse().join('');
}

function renderStep(path: GraphPath): string {
  switch (path.step) {
    case 'root':
      return String(path.key);
    case 'property':
      return renderProperty(path.key);
    case 'index':
      return `[${path.index}]`;
    case 'map-key':
      return `<map key #${path.index}>`;
    case 'map-value':
      return `<map value for ${describeKey(path.key) ?? `entry #${path.index}`}>`;
    case 'set-item':
      return `<set item #${path.index}>`;
    case 'label':
      return `<${String(path.key)}>`;
  }
}

function renderProperty(key: unknown): string {
  if (typeof key === 'symbol') {
    return `[${key.toString()}]`;
  }
  const name = String(key);
  return IDENTIFIER.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
}

function describeKey(key: unknown): string | undefined {
  switch (typeof key) {
    case 'string':
      return key.length <= LONGEST_KEY_SHOWN ? JSON.stringify(key) : undefined;
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(key);
    case 'bigint':
      return `${key}n`;
    default:
      return key === null ? 'null' : undefined;
  }
}
