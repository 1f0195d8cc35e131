import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { PackageManifest } from '../packaging/index.js';
import {
  contextDigest,
  fileFromBytes,
  normalizeEntries,
  sha256,
  type ContextEntry,
} from './contextTar.js';
import type { CachedDependencies } from './dependencies.js';
import { BuildContextError } from './errors.js';
import { RUNTIME_MODULE_PATH } from './runtimeBundle.js';
import { renderTemplate, type TemplateSource } from './templates.js';

/** Where things go in the image. The package has a fixed folder (one package per image), so the
 * bundled source's layer does not depend on the payload, whose hash is part of the UID. */
export const APP_DIR = '/app';
export const PACKAGE_DIR = `${APP_DIR}/package`;

/** Folders of the build context, one per layer. */
export const CONTEXT_PATHS = {
  dependencies: 'node_modules',
  runtime: 'runtime',
  source: 'source',
  payload: 'payload',
} as const;

/** The folder of an installed package holding the bundled source; everything else is payload. */
const SOURCE_FOLDER = 'bundle';

export interface BuildContextInput {
  readonly manifest: PackageManifest;
  /** The installed (verified, extracted) package folder on the host. */
  readonly packageDir: string;
  readonly dependencies: CachedDependencies | undefined;
  readonly runtime: { readonly code: Uint8Array; readonly ferryVersion: string };
  readonly baseImage: string;
  readonly entryFileName: string;
  readonly dockerfileTemplate: TemplateSource;
  readonly entryFileTemplate: TemplateSource;
}

export interface BuildContext {
  /** Sorted, with every parent folder: ready for `contextTarStream`. */
  readonly entries: readonly ContextEntry[];
  /** Digest of everything in the context (see `contextDigest`). */
  readonly digest: string;
  readonly dockerfile: string;
  readonly entryFile: string;
}

/** The variables the Dockerfile template gets. */
export function dockerfileVariables(input: BuildContextInput): Record<string, unknown> {
  return {
    ...commonVariables(input),
    baseImage: input.baseImage,
    entryFileName: input.entryFileName,
    hasDependencies: input.dependencies !== undefined,
    dependenciesPath: CONTEXT_PATHS.dependencies,
    runtimePath: CONTEXT_PATHS.runtime,
    sourcePath: CONTEXT_PATHS.source,
    payloadPath: CONTEXT_PATHS.payload,
  };
}

/** The variables the entry file template gets. */
export function entryFileVariables(input: BuildContextInput): Record<string, unknown> {
  return {
    ...commonVariables(input),
    runtimeModule: `${APP_DIR}/${RUNTIME_MODULE_PATH}`,
  };
}

function commonVariables(input: BuildContextInput): Record<string, unknown> {
  return {
    name: input.manifest.name,
    version: input.manifest.version,
    uid: input.manifest.uid,
    ferryVersion: input.runtime.ferryVersion,
    appDir: APP_DIR,
    packageDir: PACKAGE_DIR,
  };
}

/**
 * Renders the templates and lists everything the image is built from. Nothing is read but folder
 * listings: file bytes are read when the tar is streamed, and hashes come from the package manifest
 * and the dependency cache.
 */
export async function assembleBuildContext(input: BuildContextInput): Promise<BuildContext> {
  const dockerfile = renderTemplate(input.dockerfileTemplate, dockerfileVariables(input));
  const entryFile = renderTemplate(input.entryFileTemplate, entryFileVariables(input));
  const entries: ContextEntry[] = [
    fileFromBytes('Dockerfile', dockerfile),
    fileFromBytes(input.entryFileName, entryFile),
    fileFromBytes(`${CONTEXT_PATHS.runtime}/${RUNTIME_MODULE_PATH}`, input.runtime.code),
    // Bundled modules are ESM `.js` files: this makes every `.js` under /app a module.
    fileFromBytes(
      `${CONTEXT_PATHS.runtime}/package.json`,
      `${JSON.stringify({ name: 'ferry-job', private: true, type: 'module' }, null, 2)}\n`,
    ),
    ...(input.dependencies?.entries ?? []),
    ...(await packageEntries(input.packageDir, input.manifest)),
  ];
  const normalized = normalizeEntries(entries);
  return { entries: normalized, digest: contextDigest(normalized), dockerfile, entryFile };
}

async function packageEntries(dir: string, manifest: PackageManifest): Promise<ContextEntry[]> {
  const out: ContextEntry[] = [];
  const walk = async (relative: string): Promise<void> => {
    const names = (await readdir(path.join(dir, ...relative.split('/').filter(Boolean)))).sort();
    for (const name of names) {
      const rel = relative === '' ? name : `${relative}/${name}`;
      const abs = path.join(dir, ...rel.split('/'));
      const info = await lstat(abs);
      const layer =
        rel === SOURCE_FOLDER || rel.startsWith(`${SOURCE_FOLDER}/`)
          ? CONTEXT_PATHS.source
          : CONTEXT_PATHS.payload;
      if (info.isDirectory()) {
        out.push({ type: 'directory', path: `${layer}/${rel}` });
        await walk(rel);
      } else if (info.isFile()) {
        const sha256 = rel === 'ferry-manifest.json' ? undefined : manifest.files[rel];
        out.push({
          type: 'file',
          path: `${layer}/${rel}`,
          size: info.size,
          sha256: sha256 ?? (await hashOf(abs)),
          source: { file: abs },
        });
      } else {
        throw new BuildContextError(
          `${abs}: installed packages hold only files and folders; this is neither`,
        );
      }
    }
  };
  await walk('');
  return out;
}

async function hashOf(file: string): Promise<string> {
  return sha256(await readFile(file));
}
