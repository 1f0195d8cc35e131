import { readdir } from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import { BundleError } from './errors.js';

const MODULE_EXTENSIONS = new Set(['.ts', '.tsx', '.mts', '.js', '.jsx', '.mjs']);
const SKIPPED_FOLDERS = new Set(['node_modules']);

/** One module of the source root and where its bundled copy goes. */
export interface SourceModule {
  /** POSIX path relative to the source root, with its extension: the module part of a class identity. */
  readonly modulePath: string;
  readonly absolutePath: string;
  /** Path of the bundled output relative to the bundle folder, e.g. `jobs/titanic.js`. */
  readonly bundlePath: string;
}

/** Lists the modules under the source root, sorted, leaving out excluded globs, dot-folders and node_modules. */
export async function listSourceModules(
  sourceRoot: string,
  exclude: readonly string[],
): Promise<SourceModule[]> {
  const isExcluded = picomatch([...exclude], { dot: true });
  const modulePaths: string[] = [];
  await walk(sourceRoot, '', modulePaths, isExcluded);
  modulePaths.sort();
  if (modulePaths.length === 0) {
    throw new BundleError(
      `${sourceRoot}: no modules (${[...MODULE_EXTENSIONS].join(', ')}) under the source root; point sourceRoot at the folder holding the job's source`,
    );
  }
  return withBundlePaths(sourceRoot, modulePaths);
}

async function walk(
  root: string,
  relative: string,
  found: string[],
  isExcluded: (p: string) => boolean,
): Promise<void> {
  const entries = await readdir(path.join(root, relative), { withFileTypes: true });
  for (const entry of entries) {
    const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
    if (entry.name.startsWith('.') || isExcluded(child)) continue;
    if (entry.isDirectory()) {
      if (!SKIPPED_FOLDERS.has(entry.name)) await walk(root, child, found, isExcluded);
    } else if (entry.isFile() && MODULE_EXTENSIONS.has(path.extname(entry.name))) {
      found.push(child);
    }
  }
}

/** Maps module paths to bundle outputs; two sources that would bundle to one output are an error. */
export function withBundlePaths(
  sourceRoot: string,
  modulePaths: readonly string[],
): SourceModule[] {
  const byBundlePath = new Map<string, string>();
  return modulePaths.map((modulePath) => {
    const bundlePath = `${modulePath.slice(0, -path.extname(modulePath).length)}.js`;
    const clash = byBundlePath.get(bundlePath);
    if (clash !== undefined) {
      throw new BundleError(
        `${clash} and ${modulePath} would both bundle to ${bundlePath}; rename one of them or exclude it`,
      );
    }
    byBundlePath.set(bundlePath, modulePath);
    return { modulePath, absolutePath: path.join(sourceRoot, modulePath), bundlePath };
  });
}
