import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ExternalDependencies, LockedPackages } from '../packaging/dependencies.js';
import type { ContextEntry } from './contextTar.js';
import { DependencyInstallError } from './errors.js';

/** A folder in Ferry's cache holding `node_modules` for one exact list of dependencies. */
export interface CachedDependencies {
  /** Hash of the dependency list (and platform) that names the cache folder. */
  readonly key: string;
  /** The cache folder; `node_modules` is inside. */
  readonly dir: string;
  /** Every file, folder and link under `node_modules`, with content hashes, paths starting `node_modules/`. */
  readonly entries: readonly ContextEntry[];
  /** False when this call ran npm; true when an earlier install was reused. */
  readonly reused: boolean;
}

export interface DependencyCacheOptions {
  /** Ferry's cache root. Default: `$FERRY_CACHE_DIR`, else `$XDG_CACHE_HOME/ferry`, else `~/.cache/ferry`. */
  readonly cacheDir?: string;
  /** The npm executable. Default: `npm` on the PATH. */
  readonly npmCommand?: string;
  /** Told what happens, one line at a time. */
  readonly onProgress?: (line: string) => void;
}

const MARKER = 'ferry-deps.json';
const FORMAT = 'ferry-deps-v2';

/** Ferry's cache root folder. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.FERRY_CACHE_DIR) return path.resolve(env.FERRY_CACHE_DIR);
  if (env.XDG_CACHE_HOME) return path.join(path.resolve(env.XDG_CACHE_HOME), 'ferry');
  return path.join(os.homedir(), '.cache', 'ferry');
}

/**
 * The key of a dependency list: the same exact versions (on the same platform, since npm picks
 * platform-specific optional packages) give the same key and so reuse one install.
 */
export function dependenciesKey(
  dependencies: ExternalDependencies,
  locked: LockedPackages = {},
  platform = `${process.platform}-${process.arch}`,
): string {
  const pinned = Object.keys(dependencies)
    .sort()
    .map((name) => [name, dependencies[name]?.version]);
  const tree = Object.keys(locked)
    .sort()
    .map((at) => [at, locked[at]?.version, locked[at]?.integrity]);
  return createHash('sha256')
    .update(JSON.stringify({ format: FORMAT, platform, pinned, tree }))
    .digest('hex')
    .slice(0, 32);
}

/**
 * Installs the exact versions on the host (containers here cannot reach the npm registry), into a
 * cache folder keyed by the list, or reuses the folder a previous install left. With the locked
 * tree from the project's lockfile, `npm ci` installs every transitive package at its locked
 * version; without one (a project with no lockfile), `npm install` resolves them. Installs run in a
 * private temporary folder and are moved into place whole, so concurrent builds never see half an
 * install. Returns `undefined` when there is nothing to install.
 */
export async function ensureDependencies(
  dependencies: ExternalDependencies,
  locked: LockedPackages,
  options: DependencyCacheOptions = {},
): Promise<CachedDependencies | undefined> {
  const names = Object.keys(dependencies).sort();
  if (names.length === 0) return undefined;
  const key = dependenciesKey(dependencies, locked);
  const root = path.join(options.cacheDir ?? defaultCacheDir(), 'deps');
  const dir = path.join(root, key);
  const cached = await readMarker(dir);
  if (cached !== undefined) {
    return { key, dir, entries: cached, reused: true };
  }
  await mkdir(root, { recursive: true });
  const work = await mkdtemp(path.join(root, `.install-${key}-`));
  try {
    const manifest = {
      name: 'ferry-dependencies',
      private: true,
      description: 'npm packages a Ferry bundle imports at run time; installed by Ferry',
      dependencies: Object.fromEntries(names.map((n) => [n, dependencies[n]?.version])),
    };
    await writeFile(path.join(work, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    const lockedCount = Object.keys(locked).length;
    if (lockedCount > 0) {
      await writeFile(
        path.join(work, 'package-lock.json'),
        `${JSON.stringify(lockfileFor(manifest.name, manifest.dependencies, locked), null, 2)}\n`,
      );
    }
    options.onProgress?.(
      `Installing ${names.map((n) => `${n}@${dependencies[n]?.version}`).join(', ')} on the host (npm${lockedCount > 0 ? ` ci, ${lockedCount} locked packages` : ''})`,
    );
    await runNpm(options.npmCommand ?? 'npm', work, lockedCount > 0);
    const entries = await listTree(work, 'node_modules');
    await writeFile(
      path.join(work, MARKER),
      `${JSON.stringify({ format: FORMAT, key, dependencies: manifest.dependencies, entries })}\n`,
    );
    try {
      await rename(work, dir);
    } catch (error) {
      if (!isErrno(error, 'ENOTEMPTY') && !isErrno(error, 'EEXIST')) throw error;
      // Another build installed the same list first: use its folder, drop ours.
      const theirs = await readMarker(dir);
      if (theirs === undefined) throw error;
      return { key, dir, entries: theirs, reused: true };
    }
    return { key, dir, entries: withSources(dir, entries), reused: false };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

type StoredEntry =
  | { type: 'file'; path: string; size: number; sha256: string; executable: boolean }
  | { type: 'directory'; path: string }
  | { type: 'symlink'; path: string; target: string };

async function readMarker(dir: string): Promise<ContextEntry[] | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(dir, MARKER), 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
  const parsed = JSON.parse(text) as { format?: string; entries?: StoredEntry[] };
  if (parsed.format !== FORMAT || !Array.isArray(parsed.entries)) return undefined;
  return withSources(dir, parsed.entries);
}

function withSources(dir: string, entries: readonly StoredEntry[]): ContextEntry[] {
  return entries.map((entry) =>
    entry.type === 'file'
      ? { ...entry, source: { file: path.join(dir, ...entry.path.split('/')) } }
      : entry,
  );
}

async function listTree(base: string, relative: string): Promise<StoredEntry[]> {
  const out: StoredEntry[] = [];
  const walk = async (rel: string): Promise<void> => {
    const abs = path.join(base, ...rel.split('/'));
    const info = await lstat(abs);
    if (info.isDirectory()) {
      out.push({ type: 'directory', path: rel });
      const children = (await readdir(abs)).sort();
      for (const child of children) await walk(`${rel}/${child}`);
    } else if (info.isSymbolicLink()) {
      const target = await readlink(abs);
      const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(rel), target));
      if (path.posix.isAbsolute(target) || !resolved.startsWith(`${relative}/`)) {
        throw new DependencyInstallError(
          `npm left a link ${rel} -> ${target} that points outside node_modules; Ferry cannot copy it into an image`,
          '',
        );
      }
      out.push({ type: 'symlink', path: rel, target });
    } else if (info.isFile()) {
      out.push({
        type: 'file',
        path: rel,
        size: info.size,
        sha256: await hashFile(abs),
        executable: (info.mode & 0o111) !== 0,
      });
    }
  };
  await walk(relative);
  return out;
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A package-lock.json holding exactly the locked tree, for `npm ci`. */
export function lockfileFor(
  name: string,
  dependencies: Readonly<Record<string, string | undefined>>,
  locked: LockedPackages,
): unknown {
  return {
    name,
    lockfileVersion: 3,
    requires: true,
    packages: { '': { name, dependencies }, ...locked },
  };
}

function runNpm(npm: string, cwd: string, fromLockfile: boolean): Promise<void> {
  const args = [
    ...(fromLockfile ? ['ci'] : ['install', '--no-save', '--no-package-lock']),
    '--ignore-scripts',
    '--omit=dev',
    '--no-audit',
    '--no-fund',
    '--prefer-offline',
    '--loglevel=error',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(npm, args, {
      cwd,
      env: { ...process.env, npm_config_update_notifier: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.on('error', (error) =>
      reject(
        new DependencyInstallError(
          isErrno(error, 'ENOENT')
            ? `${npm} was not found on the PATH; Ferry installs the job's npm dependencies on the host with it`
            : `could not start ${npm}: ${error.message}`,
          output,
          { cause: error },
        ),
      ),
    );
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(
          new DependencyInstallError(
            `${npm} ${args.join(' ')} failed in ${cwd} (${signal === null ? `exit code ${code}` : `signal ${signal}`})`,
            output,
          ),
        );
    });
  });
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
