import path from 'node:path';
import * as esbuild from 'esbuild';
import { BundleError } from './errors.js';
import type { SourceModule } from './sourceModules.js';

/** Folder inside a package holding the bundled source. */
export const BUNDLE_FOLDER = 'bundle';

export interface BundleFile {
  /** Path relative to the bundle folder (POSIX). */
  readonly path: string;
  readonly contents: Uint8Array;
}

export interface Bundle {
  readonly files: readonly BundleFile[];
  /** Bare specifiers of the npm packages the bundle imports at run time (left external). */
  readonly externalImports: readonly string[];
  /** Export names of each module, by module path: the candidates for class identities. */
  readonly exportsByModule: ReadonlyMap<string, readonly string[]>;
}

/**
 * Bundles every module of the source root to ESM, one output per module and shared code split into
 * chunks, so each class is defined exactly once and every module's exports stay addressable.
 * npm packages stay external; names are kept for readable stacks and class names; source maps carry
 * the exact source the job was written in.
 */
export async function bundleSourceModules(
  sourceRoot: string,
  modules: readonly SourceModule[],
): Promise<Bundle> {
  const entryPoints = modules.map((m) => ({
    in: m.absolutePath,
    out: m.bundlePath.slice(0, -'.js'.length),
  }));
  let result: esbuild.BuildResult<{ metafile: true; write: false }>;
  try {
    result = await esbuild.build({
      absWorkingDir: sourceRoot,
      entryPoints,
      outdir: path.join(sourceRoot, '.ferry-bundle'),
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      keepNames: true,
      sourcemap: 'linked',
      sourcesContent: true,
      chunkNames: '_chunks/[name]-[hash]',
      metafile: true,
      write: false,
      logLevel: 'silent',
    });
  } catch (error) {
    throw new BundleError(
      `esbuild could not bundle ${sourceRoot}: ${describeBuildFailure(error)}`,
      {
        cause: error,
      },
    );
  }
  const outdir = path.join(sourceRoot, '.ferry-bundle');
  const files = result.outputFiles
    .map((file) => ({ path: toPosix(path.relative(outdir, file.path)), contents: file.contents }))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
  return {
    files,
    externalImports: collectExternalImports(result.metafile),
    exportsByModule: collectExports(result.metafile, modules, sourceRoot),
  };
}

function collectExternalImports(metafile: esbuild.Metafile): string[] {
  const specifiers = new Set<string>();
  for (const output of Object.values(metafile.outputs)) {
    for (const imported of output.imports) {
      if (imported.external) specifiers.add(imported.path);
    }
  }
  return [...specifiers].sort();
}

function collectExports(
  metafile: esbuild.Metafile,
  modules: readonly SourceModule[],
  sourceRoot: string,
): Map<string, readonly string[]> {
  const byEntry = new Map<string, readonly string[]>();
  for (const output of Object.values(metafile.outputs)) {
    if (output.entryPoint !== undefined) {
      byEntry.set(path.resolve(sourceRoot, output.entryPoint), output.exports);
    }
  }
  return new Map(modules.map((m) => [m.modulePath, byEntry.get(m.absolutePath) ?? []]));
}

function describeBuildFailure(error: unknown): string {
  if (isBuildFailure(error)) {
    return error.errors
      .map((e) => (e.location ? `${e.location.file}:${e.location.line}: ${e.text}` : e.text))
      .join('; ');
  }
  return error instanceof Error ? error.message : String(error);
}

function isBuildFailure(error: unknown): error is esbuild.BuildFailure {
  return error instanceof Error && Array.isArray((error as Partial<esbuild.BuildFailure>).errors);
}

export function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}
