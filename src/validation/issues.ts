/**
 * What the config and the parameters share about checking untrusted JSON with zod: messages that
 * quote the value (`expected a port number 1-65535, got "22a"`) and zod's issues turned into one
 * line per mistake at a dotted key. Types only from zod, so the container runtime, which checks
 * its parameters with zod/mini, bundles none of classic zod.
 */
import type { $ZodIssue } from 'zod/v4/core';

/** One thing wrong, at a dotted key path such as `targets.gpu-box.port` (`''`: the value itself). */
export interface Issue {
  readonly key: string;
  readonly message: string;
}

/** A value as a message shows it: JSON, shortened. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch (error) {
    // A cycle or a BigInt: JSON cannot show it, its string form still says what it is.
    text = `${String(value)} (${(error as Error).message})`;
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The allowed name closest to `key` (edit distance at most 2, or a case-insensitive match). */
export function closest(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of allowed) {
    if (candidate.toLowerCase() === key.toLowerCase()) return candidate;
    const d = distance(key, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/**
 * A zod `error` option: "is required…" when the value is missing, else `expected <what>, got <the
 * value>`. Give the same one to a schema and its checks so every failure of a key reads alike.
 */
export function expected(
  what: string,
  required = 'is required',
): { error: (issue: { input?: unknown }) => string } {
  return {
    error: (issue) =>
      issue.input === undefined ? required : `expected ${what}, got ${show(issue.input)}`,
  };
}

/**
 * Issues for every own `__proto__` key in parsed JSON (JSON.parse keeps it as a key). zod leaves
 * such keys out of what it parses without a word; they are never a valid key, so they are named.
 */
export function protoKeyIssues(value: unknown, message: string, where = ''): Issue[] {
  const out: Issue[] = [];
  const visit = (node: unknown, path: PropertyKey[], depth: number): void => {
    if (typeof node !== 'object' || node === null || depth > 64) return;
    if (Array.isArray(node)) {
      node.forEach((item, i) => visit(item, [...path, i], depth + 1));
      return;
    }
    for (const [key, item] of Object.entries(node)) {
      if (key === '__proto__') out.push({ key: keyOf([...path, key], where), message });
      else visit(item, [...path, key], depth + 1);
    }
  };
  visit(value, [], 0);
  return out;
}

/** `targets.gpu-box.mounts[0].host` from `['targets', 'gpu-box', 'mounts', 0, 'host']`. */
export function keyOf(path: readonly PropertyKey[], prefix = ''): string {
  let key = prefix;
  for (const part of path) {
    if (typeof part === 'number') key += `[${part}]`;
    else key += key === '' ? String(part) : `.${String(part)}`;
  }
  return key;
}

/**
 * zod's issues as one line per mistake, keys prefixed with `where` (`f.json` gives `f.json[0].a`).
 * A union that failed as a whole is reported inside the one branch whose type the value has (an
 * object's bad key, not "invalid input" at the object); when no branch or several fit, the union's
 * own message stands. An invalid record key is reported at that key.
 */
export function issuesOf(issues: readonly $ZodIssue[], where = ''): Issue[] {
  const out: Issue[] = [];
  const visit = (list: readonly $ZodIssue[], prefix: readonly PropertyKey[]): void => {
    for (const issue of list) {
      const path = [...prefix, ...issue.path];
      if (issue.code === 'invalid_union') {
        const fitting = issue.errors.filter(
          (branch) => !branch.some((i) => i.path.length === 0 && i.code === 'invalid_type'),
        );
        if (fitting.length === 1) {
          visit(fitting[0]!, path);
          continue;
        }
      } else if (issue.code === 'invalid_key') {
        visit(issue.issues, path);
        continue;
      }
      const key = keyOf(path, where);
      if (!out.some((o) => o.key === key && o.message === issue.message)) {
        out.push({ key, message: issue.message });
      }
    }
  };
  visit(issues, []);
  return out;
}

/** `key: message`, one line each. */
export function describeIssues(issues: readonly Issue[]): string {
  return issues
    .map((issue) => (issue.key === '' ? issue.message : `${issue.key}: ${issue.message}`))
    .join('\n');
}
