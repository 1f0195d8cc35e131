/**
 * Data files that travel with a job (`assets`): globs under the project root, checked when they
 * are given and matched when a package is made. The files go into the package as
 * `assets/<path relative to the project root>`, hashed in the manifest like every other file, and
 * a job finds them at run time through its context's `asset(path)` (attached: in the project;
 * in a container: under the installed package), so the same relative path works everywhere.
 */
import type { Stats } from 'node:fs';
import { realpath, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import { AssetError, InvalidPackagingTaskError } from './errors.js';
import { PACKAGE_LIMITS, assetPackagePath } from './manifest.js';
import { unsafePathReason } from './safeNames.js';

export { ASSETS_FOLDER, assetPackagePath } from './manifest.js';

/** Folders never searched for assets unless a glob's fixed part names them (installed packages, VCS). */
const SKIPPED_FOLDERS = new Set(['node_modules']);

/** Room left in a package for the bundle and resources: assets may take half its bounds. */
const MAX_ASSETS = PACKAGE_LIMITS.files / 2;
const MAX_ASSET_BYTES = PACKAGE_LIMITS.totalBytes / 2;

type Fail = (detail: string) => never;

/** One matched asset file. */
export interface AssetFile {
  /** POSIX path relative to the project root: what the job asks for. */
  readonly path: string;
  /** The file read (a symlink's target, which is inside the project root). */
  readonly absolutePath: string;
  readonly size: number;
}

/** Why an asset glob is not allowed, or undefined when it is. */
export function assetGlobProblem(glob: unknown): string | undefined {
  if (typeof glob !== 'string' || glob.trim() === '') {
    return `expected a glob relative to the project root such as "data/**/*.csv", got ${JSON.stringify(glob)}`;
  }
  if (glob.startsWith('/') || /^[A-Za-z]:/.test(glob) || glob.startsWith('~')) {
    return `${JSON.stringify(glob)} is absolute; asset globs are relative to the project root (e.g. "data/**/*.csv"); mount data that lives elsewhere`;
  }
  if (glob.includes('\\')) {
    return `${JSON.stringify(glob)} holds a backslash; write paths with '/'`;
  }
  if (glob.startsWith('!')) {
    return `${JSON.stringify(glob)} is a negation; list only the files to include`;
  }
  if (glob.split('/').includes('..')) {
    return `${JSON.stringify(glob)} leaves the project root ('..'); assets must be files under the project`;
  }
  return undefined;
}

/** The task's asset globs, checked (without touching the disk); `./` prefixes dropped. */
export function validateAssetGlobs(globs: unknown): readonly string[] {
  if (globs === undefined) return [];
  if (!Array.isArray(globs)) {
    throw new InvalidPackagingTaskError(
      'assets',
      'expected a list of globs relative to the project root, e.g. ["data/**/*.csv"]',
    );
  }
  return Object.freeze(
    globs.map((glob: unknown, index) => {
      const problem = assetGlobProblem(glob);
      if (problem !== undefined) throw new InvalidPackagingTaskError(`assets[${index}]`, problem);
      return (glob as string).replace(/^(?:\.\/)+/, '');
    }),
  );
}

export interface CollectAssetsOptions {
  /** How glob `index` is named in errors. Default: `PackagingTask.assets[index]`. */
  readonly describeGlob?: (index: number) => string;
}

/**
 * Matches the globs under `projectRoot` and returns the files, sorted by path. Each glob must match
 * at least one file. A symlink is followed only when its real target is inside the project root
 * (a folder link once: no cycles); one that leads outside is an error naming it. Only regular files
 * are assets; their number and sizes are bounded by what a package may hold.
 */
export async function collectAssets(
  projectRoot: string,
  globs: readonly string[],
  options: CollectAssetsOptions = {},
): Promise<AssetFile[]> {
  const describeGlob = options.describeGlob ?? ((index) => `PackagingTask.assets[${index}]`);
  if (globs.length === 0) return [];
  const root = path.resolve(projectRoot);
  const realRoot = await realpath(root);
  const found = new Map<string, AssetFile>();
  for (const [index, glob] of globs.entries()) {
    const where = describeGlob(index);
    const problem = assetGlobProblem(glob);
    if (problem !== undefined) throw new AssetError(index, problem, where);
    const before = found.size;
    const fail = (detail: string): never => {
      throw new AssetError(index, detail, where);
    };
    const matched = await matchGlob(root, realRoot, glob, fail, found);
    if (!matched) {
      fail(`${JSON.stringify(glob)} matches no file under ${root}; fix the glob, or remove it`);
    }
    if (found.size > MAX_ASSETS) {
      fail(
        `the asset globs match more than ${MAX_ASSETS} files (${found.size - before} from ${JSON.stringify(glob)}); pack them into fewer files, or mount the folder instead`,
      );
    }
  }
  const files = [...found.values()].sort((a, b) =>
    a.path < b.path ? -1 : a.path > b.path ? 1 : 0,
  );
  const total = files.reduce((sum, file) => sum + file.size, 0);
  if (total > MAX_ASSET_BYTES) {
    throw new AssetError(
      undefined,
      `the assets add up to ${total} bytes, more than ${MAX_ASSET_BYTES}; large data should stay a mount (a target's "mounts")`,
      undefined,
    );
  }
  return files;
}

/** Adds the files `glob` matches to `found`; whether it matched any (new or already found). */
async function matchGlob(
  root: string,
  realRoot: string,
  glob: string,
  fail: Fail,
  found: Map<string, AssetFile>,
): Promise<boolean> {
  const scan = picomatch.scan(glob);
  const isMatch = picomatch(glob, { dot: false });
  let matched = false;
  const consider = async (relative: string): Promise<void> => {
    const file = await assetFile(root, realRoot, relative, fail);
    if (file === undefined) return;
    found.set(file.path, file);
    matched = true;
  };
  if (!scan.isGlob) {
    const info = await stat(path.join(root, glob)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
      throw error;
    });
    if (info?.isDirectory() === true) {
      fail(
        `${JSON.stringify(glob)} is a folder; name its files, e.g. "${glob.replace(/\/$/, '')}/**/*"`,
      );
    }
    if (info !== undefined) await consider(glob);
    return matched;
  }
  const base = scan.base;
  const start = base === '' ? root : path.join(root, base);
  const startInfo = await stat(start).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
    throw error;
  });
  if (startInfo?.isDirectory() !== true) return false;
  const visited = new Set<string>();
  const walk = async (relative: string): Promise<void> => {
    const absolute = relative === '' ? root : path.join(root, ...relative.split('/'));
    const real = await realpath(absolute);
    if (visited.has(real)) return;
    visited.add(real);
    const entries = await readdir(absolute, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
      let isDirectory = entry.isDirectory();
      if (entry.isSymbolicLink()) {
        const target = await insideTarget(root, realRoot, child, fail);
        if (target === undefined) continue;
        isDirectory = target.isDirectory();
      }
      if (isDirectory) {
        // Dot-folders and node_modules are skipped: globs do not match inside them (dot: false).
        if (entry.name.startsWith('.') || SKIPPED_FOLDERS.has(entry.name)) continue;
        await walk(child);
      } else if (isMatch(child)) {
        await consider(child);
      }
    }
  };
  await walk(base.replace(/\/+$/, ''));
  return matched;
}

/** The real target of a symlink under the root, or an error when it leads outside; undefined when dangling. */
async function insideTarget(
  root: string,
  realRoot: string,
  relative: string,
  fail: Fail,
): Promise<Stats | undefined> {
  const absolute = path.join(root, ...relative.split('/'));
  const real = await realpath(absolute).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ELOOP') return undefined;
    throw error;
  });
  if (real === undefined) return undefined;
  if (!isInside(realRoot, real, true)) {
    fail(
      `${relative} is a symlink to ${real}, outside the project root ${realRoot}; copy the data into the project, or mount its folder instead`,
    );
  }
  return stat(real);
}

/** The asset at `relative`, checked: a safe name, a regular file (through a symlink inside the root), bounded. */
async function assetFile(
  root: string,
  realRoot: string,
  relative: string,
  fail: Fail,
): Promise<AssetFile | undefined> {
  const reason = unsafePathReason(assetPackagePath(relative));
  if (reason !== undefined) {
    fail(`the file ${JSON.stringify(relative)} cannot travel: ${reason}`);
  }
  const absolute = path.join(root, ...relative.split('/'));
  const real = await realpath(absolute);
  if (!isInside(realRoot, real, false)) {
    fail(
      `${relative} leads to ${real}, outside the project root ${realRoot}; copy the data into the project, or mount its folder instead`,
    );
  }
  const info = await stat(real);
  if (!info.isFile()) return undefined;
  if (info.size > PACKAGE_LIMITS.fileBytes) {
    fail(
      `${relative} is ${info.size} bytes, more than a package file may be (${PACKAGE_LIMITS.fileBytes}); mount its folder instead`,
    );
  }
  return { path: relative, absolutePath: real, size: info.size };
}

/** Whether `target` is under `root` (or is `root` itself, when `orRoot`). */
function isInside(root: string, target: string, orRoot: boolean): boolean {
  const back = path.relative(root, target);
  if (back === '') return orRoot;
  return back !== '..' && !back.startsWith(`..${path.sep}`) && !path.isAbsolute(back);
}
