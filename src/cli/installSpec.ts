/**
 * The npm spec a new project (`ferry init`) names Ferry by: the one that installs the Ferry running
 * now. Installed from a registry, `^<version>`; from a tarball or a git URL, that tarball or URL (as
 * the installing project's lockfile records it); a clone, or anything else, `file:` its folder.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';

export interface FerryPackage {
  /** Ferry's package folder (where its package.json is). */
  readonly root: string;
  readonly version: string;
}

/** The spec for `devDependencies.ferry` that installs this Ferry. */
export function ferryInstallSpec(ferry: FerryPackage): string {
  const root = realpathSync(ferry.root);
  const marker = `${path.sep}node_modules${path.sep}`;
  const at = root.lastIndexOf(marker);
  if (at < 0) return `file:${root}`;
  const project = root.slice(0, at);
  const key = `node_modules/${root
    .slice(at + marker.length)
    .split(path.sep)
    .join('/')}`;
  const entry = lockEntry(project, key);
  const resolved = entry?.resolved;
  if (resolved === undefined) return `file:${root}`;
  if (resolved.startsWith('file:')) {
    return `file:${path.resolve(project, resolved.slice('file:'.length))}`;
  }
  if (/^(?:git\+|git:|github:)/.test(resolved)) return resolved;
  if (/^https?:\/\//.test(resolved)) return `^${ferry.version}`;
  // A linked install (`npm install ../ferry`): the lockfile has the link's target.
  if (entry?.link === true) return `file:${path.resolve(project, resolved)}`;
  return `file:${root}`;
}

interface LockEntry {
  readonly resolved?: string;
  readonly link?: boolean;
}

/** `packages[key]` of the project's lockfile (or npm's hidden one in node_modules), if any. */
function lockEntry(project: string, key: string): LockEntry | undefined {
  for (const file of [
    path.join(project, 'package-lock.json'),
    path.join(project, 'node_modules', '.package-lock.json'),
  ]) {
    if (!existsSync(file)) continue;
    let lock: { packages?: unknown };
    try {
      lock = JSON.parse(readFileSync(file, 'utf8')) as { packages?: unknown };
    } catch (error) {
      // A lockfile npm left half-written tells nothing; the folder's spec is still right.
      if (error instanceof SyntaxError) continue;
      throw error;
    }
    const { packages } = lock;
    if (typeof packages !== 'object' || packages === null || !Object.hasOwn(packages, key)) {
      continue;
    }
    const entry = (packages as Record<string, unknown>)[key];
    if (typeof entry !== 'object' || entry === null) continue;
    const { resolved, link } = entry as Record<string, unknown>;
    return {
      ...(typeof resolved === 'string' ? { resolved } : {}),
      ...(link === true ? { link } : {}),
    };
  }
  return undefined;
}
