/**
 * Parameters from the command line: `--param key=value` (a dotted key sets a nested value) and the
 * values of `--grid`. Values are JSON when they parse; a value that starts like JSON (`[`, `{`,
 * `"`) and does not parse is a mistake, not text.
 */
import { InvalidParametersError } from './errors.js';
import { forbiddenKeyMessage, type JobParameters, type JsonValue } from './schema.js';
import { checkParameters } from './check.js';

/** The flag a value came from, for messages: `--param "epochs=3"`. */
function quoted(option: string, text: string): string {
  return `${option} ${JSON.stringify(text)}`;
}

/**
 * The parts of a dotted key (`optimizer.lr`), each a valid parameter name; `option` and `text`
 * name the input in messages.
 */
export function parseKeyPath(key: string, option: string, text: string, form: string): string[] {
  const path = key.split('.');
  if (key === '' || path.some((part) => part === '')) {
    throw new InvalidParametersError(`${quoted(option, text)}: expected ${form}`);
  }
  for (const part of path) {
    const forbidden = forbiddenKeyMessage(part);
    if (forbidden !== undefined) {
      throw new InvalidParametersError(`${quoted(option, text)}: ${forbidden}`);
    }
  }
  return path;
}

const ASSIGNMENT_FORM = 'key=value, e.g. --param epochs=10 or --param optimizer.lr=0.01';

/**
 * `key=value` from the command line. The value is JSON when it parses as JSON (`3`, `true`,
 * `[1,2]`, `{"a":1}`, `"quoted"`), else the text itself (`adam`). A dotted key (`optimizer.lr=0.1`)
 * sets a nested value.
 */
export function parseAssignment(text: string): {
  readonly path: readonly string[];
  readonly value: JsonValue;
} {
  const eq = text.indexOf('=');
  if (eq <= 0)
    throw new InvalidParametersError(`${quoted('--param', text)}: expected ${ASSIGNMENT_FORM}`);
  const path = parseKeyPath(text.slice(0, eq), '--param', text, ASSIGNMENT_FORM);
  return { path, value: parseValue(text.slice(eq + 1), '--param', text) };
}

/** How a value that starts like JSON but is not JSON should have been written. */
function jsonHint(value: string, option: string, text: string): string {
  const key = text.slice(0, text.indexOf('='));
  const first = value.trimStart()[0];
  if (first === '[') {
    return `write a JSON list, quoted for the shell: ${option} '${key}=[0.1,0.01]'`;
  }
  if (first === '{') {
    return `write a JSON object, quoted for the shell: ${option} '${key}={"lr":0.01}'`;
  }
  return `close the string, or leave the quotes out for plain text: ${option} '${key}="some text"' or ${option} ${key}=text`;
}

/**
 * A command-line value: JSON when it parses as JSON, else the text itself. Text that starts with
 * `[`, `{` or `"` must be JSON (a list, an object, a string): `[0.1,0.01` is a mistake, and
 * taking it as text would hand the job a string where it expects a list.
 */
export function parseValue(value: string, option = '--param', text = value): JsonValue {
  try {
    return JSON.parse(value) as JsonValue;
  } catch (error) {
    if (/^\s*[[{"]/.test(value)) {
      throw new InvalidParametersError(
        `${quoted(option, text)}: ${JSON.stringify(value)} is not valid JSON (${(error as Error).message}); ${jsonHint(value, option, text)}`,
      );
    }
    return value;
  }
}

function isObject(value: JsonValue | undefined): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kindOf(value: JsonValue): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return `a ${typeof value}`;
}

/**
 * Sets `path` in a (mutable, plain) object, creating nested objects on the way. A value on the way
 * that is not an object is not silently replaced by one: `epochs=3` then `epochs.x=1` is refused
 * (`describeSource` says where the earlier value came from).
 */
export function setPath(
  target: Record<string, JsonValue>,
  path: readonly string[],
  value: JsonValue,
  describeSource: (path: readonly string[]) => string = () => 'earlier',
): void {
  let node = target;
  for (const [i, part] of path.entries()) {
    if (i === path.length - 1) {
      node[part] = value;
      return;
    }
    const next = Object.hasOwn(node, part) ? node[part] : undefined;
    if (isObject(next)) {
      node = next;
    } else if (next === undefined) {
      const created: Record<string, JsonValue> = {};
      node[part] = created;
      node = created;
    } else {
      const at = path.slice(0, i + 1);
      throw new InvalidParametersError(
        `${at.join('.')} is ${JSON.stringify(next)} (${kindOf(next)}, set ${describeSource(at)}), so ${path.join('.')} cannot be set inside it; set the whole object instead (--param '${at.join('.')}={"${path[i + 1]}":…}') or drop one of the two`,
      );
    }
  }
}

/** `--param` assignments applied over a base object (later ones win). */
export function applyAssignments(
  base: JobParameters,
  assignments: readonly string[],
): JobParameters {
  const out = structuredClone(base) as Record<string, JsonValue>;
  const setBy = new Map<string, string>();
  for (const text of assignments) {
    const { path, value } = parseAssignment(text);
    try {
      setPath(out, path, value, (at) => {
        const by = setBy.get(at.join('.'));
        return by === undefined
          ? 'by defaults.parameters or a --params file'
          : `by ${quoted('--param', by)}`;
      });
    } catch (error) {
      if (!(error instanceof InvalidParametersError)) throw error;
      throw new InvalidParametersError(`${quoted('--param', text)}: ${error.message}`, {
        cause: error,
      });
    }
    setBy.set(path.join('.'), text);
  }
  return checkParameters(out);
}
