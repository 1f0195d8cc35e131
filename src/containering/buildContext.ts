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
import type { CachedDependencies, NpmProject } from './dependencies.js';
import { BuildContextError } from './errors.js';
import type { ImagePlatform } from './platform.js';
import { RUNTIME_MODULE_PATH } from './runtimeBundle.js';
import { renderTemplate, type TemplateSource } from './templates.js';

/** Where things go in the image. The package has a fixed folder (one package per image), so the
 * bundled source's layer does not depend on the payload, whose hash is part of the UID. */
export const APP_DIR = '/app';
export const PACKAGE_DIR = `${APP_DIR}/package`;

/** Folders of the build context, one per layer. */
export const CONTEXT_PATHS = {
  dependencies: 'node_modules',
  assets: 'assets',
  npmProject: 'npm-project',
  runtime: 'runtime',
  source: 'source',
  payload: 'payload',
} as const;

/** The folder of an installed package holding the bundled source; everything else is payload. */
const SOURCE_FOLDER = 'bundle';
/** The folder of an installed package holding its data files: a layer of their own, before the source. */
const ASSETS_FOLDER = 'assets';
/**
 * The source and assets layers hold their files at their full image path (`source/app/package/
 * bundle/…`) and are copied to `/`: the builder then gives every folder on the way the context's
 * fixed times, so the layer's bytes (its diff id) stay the same when a layer before it changed
 * (the data, for the source; a folder merely written into would carry the build's time).
 */
const ROOTED = {
  source: `${CONTEXT_PATHS.source}${PACKAGE_DIR}`,
  assets: `${CONTEXT_PATHS.assets}${PACKAGE_DIR}`,
} as const;
/** A Dockerfile line that copies the assets' folder of the context. */
const COPIES_ASSETS = new RegExp(`^\\s*(?:COPY|ADD)\\s.*\\b${CONTEXT_PATHS.assets}\\b`, 'im');

export interface BuildContextInput {
  readonly manifest: PackageManifest;
  /** The installed (verified, extracted) package folder on the host. */
  readonly packageDir: string;
  /** The image to build on: the base image plus the dependencies (see `dependenciesContext`). */
  readonly dependenciesImage: string;
  readonly baseImage: string;
  readonly runtime: { readonly code: Uint8Array; readonly ferryVersion: string };
  readonly entryFileName: string;
  readonly dockerfileTemplate: TemplateSource;
  readonly entryFileTemplate: TemplateSource;
}

export interface BuildContext {
  /** Everything but the Dockerfile, sorted, with every parent folder. */
  readonly entries: readonly ContextEntry[];
  /** The rendered Dockerfile, before Ferry's LABEL instruction is appended. */
  readonly dockerfile: string;
  readonly entryFile: string;
  /** Digest of the entries and the rendered Dockerfile (see `contextDigest`). */
  readonly digest: string;
}

/** The variables the Dockerfile template gets. */
export function dockerfileVariables(input: BuildContextInput): Record<string, unknown> {
  return {
    ...commonVariables(input),
    baseImage: input.baseImage,
    dependenciesImage: input.dependenciesImage,
    entryFileName: input.entryFileName,
    hasAssets: (input.manifest.assets?.length ?? 0) > 0,
    assetsPath: CONTEXT_PATHS.assets,
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
 * Renders the templates and lists what the job image is built from. Nothing is read but folder
 * listings: file bytes are read when the tar is streamed, and hashes come from the package manifest.
 */
export async function assembleBuildContext(input: BuildContextInput): Promise<BuildContext> {
  const dockerfile = renderTemplate(input.dockerfileTemplate, dockerfileVariables(input));
  if ((input.manifest.assets?.length ?? 0) > 0 && !COPIES_ASSETS.test(dockerfile)) {
    throw new BuildContextError(
      `${input.dockerfileTemplate.name}: the package carries assets, but the Dockerfile does not copy them; add \`COPY {{assetsPath}} /\` (inside {{#if hasAssets}}) before the source`,
    );
  }
  const entryFile = renderTemplate(input.entryFileTemplate, entryFileVariables(input));
  const entries = normalizeEntries([
    fileFromBytes(input.entryFileName, entryFile),
    fileFromBytes(`${CONTEXT_PATHS.runtime}/${RUNTIME_MODULE_PATH}`, input.runtime.code),
    // Bundled modules are ESM `.js` files: this makes every `.js` under /app a module.
    fileFromBytes(
      `${CONTEXT_PATHS.runtime}/package.json`,
      `${JSON.stringify({ name: 'ferry-job', private: true, type: 'module' }, null, 2)}\n`,
    ),
    ...(await packageEntries(input.packageDir, input.manifest)),
  ]);
  return {
    entries,
    dockerfile,
    entryFile,
    digest: contextDigest(normalizeEntries([...entries, fileFromBytes('Dockerfile', dockerfile)])),
  };
}

/** The entries to send: the context with the Dockerfile, to which one LABEL instruction is appended. */
export function withDockerfile(
  entries: readonly ContextEntry[],
  dockerfile: string,
  labels: Readonly<Record<string, string>>,
): ContextEntry[] {
  return normalizeEntries([
    ...entries,
    fileFromBytes('Dockerfile', appendLabels(dockerfile, labels)),
  ]);
}

/** The Dockerfile with one `LABEL` instruction carrying `labels` (one step, rather than one per label). */
export function appendLabels(dockerfile: string, labels: Readonly<Record<string, string>>): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return dockerfile;
  const pairs = keys.map((key) => {
    const value = labels[key] ?? '';
    if (/[\r\n]/.test(key) || /[\r\n]/.test(value)) {
      throw new BuildContextError(`label ${JSON.stringify(key)}: labels cannot hold line breaks`);
    }
    return `${JSON.stringify(key)}=${JSON.stringify(value)}`;
  });
  const body = dockerfile.endsWith('\n') ? dockerfile : `${dockerfile}\n`;
  return `${body}LABEL ${pairs.join(' \\\n      ')}\n`;
}

/** How the dependencies image gets its `node_modules`: copied from a host install, or npm in the build. */
export type DependenciesInstall =
  | { readonly kind: 'host'; readonly cached: CachedDependencies }
  | {
      readonly kind: 'image';
      readonly project: NpmProject;
      /** A BuildKit cache mount keeps npm's cache between builds. */
      readonly npmCacheMount: boolean;
    };

/** Where npm's cache is mounted in an in-image install (a BuildKit cache mount). */
export const NPM_CACHE_DIR = '/var/cache/ferry-npm';

/** The npm command line (exec form: no shell needed) of an in-image install. */
export function inImageNpmCommand(project: NpmProject, npmCacheMount: boolean): string[] {
  return [
    'npm',
    ...(project.lockfile === undefined ? ['install', '--no-package-lock'] : ['ci']),
    '--omit=dev',
    '--no-audit',
    '--no-fund',
    '--update-notifier=false',
    '--loglevel=error',
    ...(npmCacheMount ? [`--cache=${NPM_CACHE_DIR}`, '--prefer-offline'] : []),
  ];
}

/** Variables of the dependencies Dockerfile template. */
export function dependenciesVariables(
  baseImage: string,
  dependencies: Readonly<Record<string, { version: string }>>,
  platform: ImagePlatform,
  install: DependenciesInstall,
): Record<string, unknown> {
  return {
    baseImage,
    platform,
    appDir: APP_DIR,
    installInImage: install.kind === 'image',
    dependenciesPath: CONTEXT_PATHS.dependencies,
    projectPath: CONTEXT_PATHS.npmProject,
    npmCacheMount: install.kind === 'image' && install.npmCacheMount,
    npmCacheDir: NPM_CACHE_DIR,
    // Named per platform so a cache mount never mixes what npm kept for two platforms.
    npmCacheId: `ferry-npm-${platform.replace('/', '-')}`,
    npmCommand:
      install.kind === 'image' ? inImageNpmCommand(install.project, install.npmCacheMount) : [],
    dependencyList: dependencyList(dependencies),
  };
}

/** `a@1.0.0, b@2.0.0`. */
export function dependencyList(
  dependencies: Readonly<Record<string, { version: string }>>,
): string {
  return Object.keys(dependencies)
    .sort()
    .map((name) => `${name}@${dependencies[name]?.version}`)
    .join(', ');
}

/**
 * What the dependencies image is built from: `node_modules` from Ferry's cache (host install), or
 * the package.json and lockfile npm installs from in the build (image install).
 */
export function dependenciesContext(
  install: DependenciesInstall,
  dockerfile: string,
): { entries: ContextEntry[]; digest: string } {
  const files =
    install.kind === 'host'
      ? install.cached.entries
      : [
          fileFromBytes(`${CONTEXT_PATHS.npmProject}/package.json`, install.project.packageJson),
          ...(install.project.lockfile === undefined
            ? []
            : [
                fileFromBytes(
                  `${CONTEXT_PATHS.npmProject}/package-lock.json`,
                  install.project.lockfile,
                ),
              ]),
        ];
  const entries = normalizeEntries([...files, fileFromBytes('Dockerfile', dockerfile)]);
  return { entries, digest: contextDigest(entries) };
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
          ? ROOTED.source
          : rel === ASSETS_FOLDER || rel.startsWith(`${ASSETS_FOLDER}/`)
            ? ROOTED.assets
            : CONTEXT_PATHS.payload;
      if (info.isDirectory()) {
        out.push({ type: 'directory', path: `${layer}/${rel}` });
        await walk(rel);
      } else if (info.isFile()) {
        // installPackage verified every listed file against the manifest; only the manifest itself is unlisted.
        const listed = manifest.files[rel];
        out.push({
          type: 'file',
          path: `${layer}/${rel}`,
          size: info.size,
          sha256: listed ?? sha256(await readFile(abs)),
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
