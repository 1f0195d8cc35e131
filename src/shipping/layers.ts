import { createHash } from 'node:crypto';

/**
 * Image layers as a Docker engine's layer store knows them. A layer is identified by its chain ID:
 * the digest of its diff ID and everything under it. `docker load` skips a layer whose chain ID the
 * engine already has, without opening its tarball, so a save archive can leave such layers out.
 */

/** Chain IDs of every prefix of a list of diff IDs (`sha256:…`), as the OCI image spec defines them. */
export function chainIds(diffIds: readonly string[]): string[] {
  const chains: string[] = [];
  let previous: string | undefined;
  for (const diffId of diffIds) {
    const chain =
      previous === undefined
        ? diffId
        : `sha256:${createHash('sha256').update(`${previous} ${diffId}`).digest('hex')}`;
    chains.push(chain);
    previous = chain;
  }
  return chains;
}

/** Which layers of an image an engine already has (by chain ID): `present[i]` for layer `i`. */
export function presentLayers(
  diffIds: readonly string[],
  knownChains: ReadonlySet<string>,
): boolean[] {
  return chainIds(diffIds).map((chain) => knownChains.has(chain));
}

/**
 * Docker (up to 24) names each layer folder of a `docker save` archive by a legacy "v1 ID": the
 * SHA-256 of the folder's `json` file's fields, minus `id`, plus `layer_id` (the chain ID) and
 * `parent` (`sha256:` + the parent folder's name), serialized with sorted keys. Given that `json`
 * file, finds the layer position whose chain ID reproduces the folder's name; undefined when none
 * does (another format or engine version: then nothing is left out, which is always safe).
 */
export function legacyLayerPosition(
  folderName: string,
  jsonFile: Buffer,
  chains: readonly string[],
): number | undefined {
  const fields = topLevelRawFields(jsonFile.toString('utf8'));
  if (fields === undefined) return undefined;
  fields.delete('id');
  const parent = fields.get('parent');
  if (parent !== undefined) {
    const hex = /^"([0-9a-f]{64})"$/.exec(parent)?.[1];
    if (hex !== undefined) fields.set('parent', JSON.stringify(`sha256:${hex}`));
  }
  // `os` is written to the file after the ID is computed for all but the top layer: try both.
  const variants = [fields];
  if (fields.has('os')) {
    const withoutOs = new Map(fields);
    withoutOs.delete('os');
    variants.push(withoutOs);
  }
  for (let position = 0; position < chains.length; position += 1) {
    for (const variant of variants) {
      const candidate = new Map(variant);
      candidate.set('layer_id', JSON.stringify(chains[position]));
      if (sha256Hex(serializeSorted(candidate)) === folderName) return position;
    }
  }
  return undefined;
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** `{"k":raw,…}` with keys in byte order, as Go's encoding/json writes a map. */
function serializeSorted(fields: ReadonlyMap<string, string>): string {
  const keys = [...fields.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${keys.map((key) => `${JSON.stringify(key)}:${fields.get(key)}`).join(',')}}`;
}

/**
 * The top-level members of a compact JSON object, each value as its raw source text (so hashing
 * sees exactly the bytes Go wrote). Undefined for anything but a well-formed object.
 */
export function topLevelRawFields(text: string): Map<string, string> | undefined {
  try {
    return scanObject(text);
  } catch (error) {
    if (error instanceof SyntaxError || error instanceof MalformedJsonError) return undefined;
    throw error;
  }
}

class MalformedJsonError extends Error {}

function scanObject(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  let i = skipSpace(text, 0);
  if (text[i] !== '{') throw new MalformedJsonError('not a JSON object');
  i = skipSpace(text, i + 1);
  if (text[i] === '}') return fields;
  for (;;) {
    if (text[i] !== '"') throw new MalformedJsonError(`expected a key at ${i}`);
    const keyEnd = endOfString(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipSpace(text, keyEnd);
    if (text[i] !== ':') throw new MalformedJsonError(`expected ':' at ${i}`);
    i = skipSpace(text, i + 1);
    const valueEnd = endOfValue(text, i);
    fields.set(key, text.slice(i, valueEnd));
    i = skipSpace(text, valueEnd);
    if (text[i] === ',') {
      i = skipSpace(text, i + 1);
      continue;
    }
    if (text[i] === '}') return fields;
    throw new MalformedJsonError(`expected ',' or '}' at ${i}`);
  }
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && /\s/.test(text[i] ?? '')) i += 1;
  return i;
}

function endOfString(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text[i];
    if (c === '\\') i += 2;
    else if (c === '"') return i + 1;
    else i += 1;
  }
  throw new MalformedJsonError('unterminated string');
}

function endOfValue(text: string, start: number): number {
  const first = text[start];
  if (first === '"') return endOfString(text, start);
  if (first === '{' || first === '[') {
    let depth = 0;
    let i = start;
    while (i < text.length) {
      const c = text[i];
      if (c === '"') {
        i = endOfString(text, i);
        continue;
      }
      if (c === '{' || c === '[') depth += 1;
      else if (c === '}' || c === ']') {
        depth -= 1;
        if (depth === 0) return i + 1;
      }
      i += 1;
    }
    throw new MalformedJsonError('unterminated value');
  }
  let i = start;
  while (i < text.length && !/[,}\]\s]/.test(text[i] ?? '')) i += 1;
  if (i === start) throw new MalformedJsonError(`expected a value at ${start}`);
  return i;
}
