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
import { defaultImagePlatform, npmCpuOf, type ImagePlatform } from './platform.js';

/** The C library of the image's Linux, which npm's `--libc` picks optional packages by. */
export type Libc = 'glibc' | 'musl';

/** What a host install is for: the image's platform and C library, never the host's. */
export interface InstallTarget {
  readonly platform: ImagePlatform;
  readonly libc: Libc;
}

/** A package of an install that has install scripts, which a host install does not run. */
export interface ScriptedPackage {
  /** Its folder, e.g. `node_modules/esbuild`. */
  readonly path: string;
  readonly name: string;
  /** The scripts (`preinstall`, `install`, `postinstall`) as its package.json has them. */
  readonly scripts: Readonly<Record<string, string>>;
  /**
   * A native addon: it has a binding.gyp, or a script that compiles or fetches a binary for the
   * machine it runs on (node-gyp, prebuild-install, node-pre-gyp, cmake-js, node-gyp-build).
   */
  readonly native: boolean;
}

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
  /** Packages with install scripts: npm ran with `--ignore-scripts`, so they have not run. */
  readonly scripted: readonly ScriptedPackage[];
}

export interface DependencyCacheOptions {
  /** Ferry's cache root. Default: `$FERRY_CACHE_DIR`, else `$XDG_CACHE_HOME/ferry`, else `~/.cache/ferry`. */
  readonly cacheDir?: string;
  /** The npm executable. Default: `npm` on the PATH. */
  readonly npmCommand?: string;
  /** Told what happens, one line at a time. */
  readonly onProgress?: (line: string) => void;
  /** The image platform and C library to install for. Default: linux on this machine's architecture, glibc. */
  readonly target?: InstallTarget;
}

const MARKER = 'ferry-deps.json';
const FORMAT = 'ferry-deps-v3';

/** Linux on this machine's architecture with glibc: what a host install is for unless told. */
export function defaultInstallTarget(): InstallTarget {
  return { platform: defaultImagePlatform(), libc: 'glibc' };
}

/** Ferry's cache root folder. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.FERRY_CACHE_DIR) return path.resolve(env.FERRY_CACHE_DIR);
  if (env.XDG_CACHE_HOME) return path.join(path.resolve(env.XDG_CACHE_HOME), 'ferry');
  return path.join(os.homedir(), '.cache', 'ferry');
}

/**
 * The key of a dependency list: the same exact versions for the same image platform and C library
 * (npm picks platform-specific optional packages by them) give the same key and so reuse one
 * install. The host's platform is not part of it: the install is for the image.
 */
export function dependenciesKey(
  dependencies: ExternalDependencies,
  locked: LockedPackages = {},
  target: InstallTarget = defaultInstallTarget(),
): string {
  const platform = `${target.platform}-${target.libc}`;
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
 * Installs the exact versions on the host for the image's platform (npm's `--os`, `--cpu` and
 * `--libc`, so optional per-platform packages are the image's), into a cache folder keyed by the
 * list and the platform, or reuses the folder a previous install left. Install scripts are not
 * run (they would run for the host); the packages that have them are listed. With the locked
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
  const target = options.target ?? defaultInstallTarget();
  const key = dependenciesKey(dependencies, locked, target);
  const root = path.join(options.cacheDir ?? defaultCacheDir(), 'deps');
  const dir = path.join(root, key);
  const cached = await readMarker(dir);
  if (cached !== undefined) {
    return { key, dir, ...cached, reused: true };
  }
  await mkdir(root, { recursive: true });
  const work = await mkdtemp(path.join(root, `.install-${key}-`));
  try {
    const project = npmProject(dependencies, locked);
    await writeFile(path.join(work, 'package.json'), project.packageJson);
    if (project.lockfile !== undefined) {
      await writeFile(path.join(work, 'package-lock.json'), project.lockfile);
    }
    const lockedCount = Object.keys(locked).length;
    options.onProgress?.(
      `Installing ${names.map((n) => `${n}@${dependencies[n]?.version}`).join(', ')} on the host for ${target.platform} (${target.libc}; npm${lockedCount > 0 ? ` ci, ${lockedCount} locked packages` : ''})`,
    );
    await runNpm(options.npmCommand ?? 'npm', work, lockedCount > 0, target);
    const entries = await listTree(work, 'node_modules');
    const scripted = await findScriptedPackages(work, entries);
    await writeFile(
      path.join(work, MARKER),
      `${JSON.stringify({ format: FORMAT, key, target, dependencies: project.pinned, entries, scripted })}\n`,
    );
    try {
      await rename(work, dir);
    } catch (error) {
      if (!isErrno(error, 'ENOTEMPTY') && !isErrno(error, 'EEXIST')) throw error;
      // Another build installed the same list first: use its folder, drop ours.
      const theirs = await readMarker(dir);
      if (theirs === undefined) throw error;
      return { key, dir, ...theirs, reused: true };
    }
    return { key, dir, entries: withSources(dir, entries), scripted, reused: false };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

type StoredEntry =
  | { type: 'file'; path: string; size: number; sha256: string; executable: boolean }
  | { type: 'directory'; path: string }
  | { type: 'symlink'; path: string; target: string };

async function readMarker(
  dir: string,
): Promise<{ entries: ContextEntry[]; scripted: ScriptedPackage[] } | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(dir, MARKER), 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
  const parsed = JSON.parse(text) as {
    format?: string;
    entries?: StoredEntry[];
    scripted?: ScriptedPackage[];
  };
  if (parsed.format !== FORMAT || !Array.isArray(parsed.entries)) return undefined;
  return {
    entries: withSources(dir, parsed.entries),
    scripted: Array.isArray(parsed.scripted) ? parsed.scripted : [],
  };
}

const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall'] as const;
/** Scripts that compile, or fetch a prebuilt binary, for the machine they run on. */
const NATIVE_BUILDERS = /\b(?:node-gyp|node-gyp-build|prebuild-install|node-pre-gyp|cmake-js)\b/;

/**
 * The installed packages with install scripts (npm runs `node-gyp rebuild` for a binding.gyp
 * without an install script, so that counts too), each marked native when it builds or fetches a
 * binary for the machine it runs on.
 */
async function findScriptedPackages(
  base: string,
  entries: readonly StoredEntry[],
): Promise<ScriptedPackage[]> {
  const files = new Set(entries.filter((e) => e.type === 'file').map((e) => e.path));
  const out: ScriptedPackage[] = [];
  for (const file of [...files].sort()) {
    const folder = path.posix.dirname(file);
    if (path.posix.basename(file) !== 'package.json' || !isPackageFolder(folder)) continue;
    const manifest = JSON.parse(await readFile(path.join(base, ...file.split('/')), 'utf8')) as {
      name?: unknown;
      scripts?: Record<string, unknown>;
      gypfile?: unknown;
    };
    const scripts: Record<string, string> = {};
    for (const name of INSTALL_SCRIPTS) {
      const script = manifest.scripts?.[name];
      if (typeof script === 'string' && script.trim() !== '') scripts[name] = script;
    }
    const gyp = files.has(`${folder}/binding.gyp`) || manifest.gypfile === true;
    if (gyp && scripts.install === undefined && scripts.preinstall === undefined) {
      scripts.install = 'node-gyp rebuild';
    }
    if (Object.keys(scripts).length === 0) continue;
    out.push({
      path: folder,
      name:
        typeof manifest.name === 'string' ? manifest.name : folder.replace(/^.*node_modules\//, ''),
      scripts,
      native: gyp || Object.values(scripts).some((script) => NATIVE_BUILDERS.test(script)),
    });
  }
  return out;
}

/** `node_modules/a`, `node_modules/@s/a`, `node_modules/a/node_modules/b`: a package's own folder. */
function isPackageFolder(folder: string): boolean {
  return /^node_modules\/(?:@[^/]+\/)?[^/@][^/]*(?:\/node_modules\/(?:@[^/]+\/)?[^/@][^/]*)*$/.test(
    folder,
  );
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

/** The npm project that installs exactly the bundle's dependencies, on the host or in an image. */
export interface NpmProject {
  /** The package.json text: the direct dependencies at their exact versions. */
  readonly packageJson: string;
  /** The package-lock.json text holding the locked tree, when the project had a lockfile. */
  readonly lockfile: string | undefined;
  readonly pinned: Readonly<Record<string, string | undefined>>;
}

/** The package.json (and package-lock.json, for `npm ci`) of the install; same input, same bytes. */
export function npmProject(dependencies: ExternalDependencies, locked: LockedPackages): NpmProject {
  const names = Object.keys(dependencies).sort();
  const manifest = {
    name: 'ferry-dependencies',
    private: true,
    description: 'npm packages a Ferry bundle imports at run time; installed by Ferry',
    dependencies: Object.fromEntries(names.map((n) => [n, dependencies[n]?.version])),
  };
  return {
    packageJson: `${JSON.stringify(manifest, null, 2)}\n`,
    lockfile:
      Object.keys(locked).length === 0
        ? undefined
        : `${JSON.stringify(lockfileFor(manifest.name, manifest.dependencies, locked), null, 2)}\n`,
    pinned: manifest.dependencies,
  };
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

function runNpm(
  npm: string,
  cwd: string,
  fromLockfile: boolean,
  target: InstallTarget,
): Promise<void> {
  const args = [
    ...(fromLockfile ? ['ci'] : ['install', '--no-save', '--no-package-lock']),
    // The image's platform: npm then installs the optional packages made for it (esbuild's,
    // sharp's), whatever this machine is.
    '--os=linux',
    `--cpu=${npmCpuOf(target.platform)}`,
    `--libc=${target.libc}`,
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
