import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type Dockerode from 'dockerode';
import { installPackage, makePackage, type PackageInfo } from '../packaging/index.js';
import { assembleBuildContext } from './buildContext.js';
import type { ContaineringTask } from './containeringTask.js';
import { contextTarStream, sha256 } from './contextTar.js';
import { ensureDependencies } from './dependencies.js';
import { defaultDocker, ensureDockerAvailable, toDockerUnavailable } from './dockerEngine.js';
import { runImageBuild } from './imageBuild.js';
import { bundleRuntime } from './runtimeBundle.js';
import {
  DEFAULT_DOCKERFILE_TEMPLATE,
  DEFAULT_ENTRY_FILE_TEMPLATE,
  loadDefaultTemplate,
  type TemplateSource,
} from './templates.js';

/** Labels Ferry puts on every image it builds (and, with `ferry.run-id`, on every container). */
export const LABELS = {
  job: 'ferry.job',
  version: 'ferry.version',
  uid: 'ferry.uid',
  contentDigest: 'ferry.content-digest',
  ferryVersion: 'ferry.ferry-version',
} as const;

export interface ImageInfo {
  readonly imageName: string;
  readonly imageTag: string;
  /** `imageName:imageTag`. */
  readonly reference: string;
  /** `sha256:…` */
  readonly imageId: string;
  /** Digest of the build context and labels; the `ferry.content-digest` label. */
  readonly contentDigest: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly packageInfo: PackageInfo;
  /** False when an image with the same content already existed and was only tagged. */
  readonly built: boolean;
}

export type ContaineringStage = 'packaging' | 'dependencies' | 'context' | 'build' | 'cached';

export interface ContaineringProgress {
  readonly stage: ContaineringStage;
  readonly message: string;
  /** During `build`: the Dockerfile step the message belongs to. */
  readonly step?: string;
}

export interface MakeContainerOptions {
  /** The engine to build on. Default: `DOCKER_HOST`, else the local socket. */
  readonly docker?: Dockerode;
  readonly onProgress?: (progress: ContaineringProgress) => void;
  /**
   * Folder for this build's package archive (kept) and its temporary install (removed); each build
   * uses its own sub-folder. Default: a fresh temporary folder, removed with the archive after the
   * build, so `packageInfo.path` then no longer exists.
   */
  readonly workDir?: string;
  /** Ferry's cache root (installed npm dependencies). Default: see `defaultCacheDir`. */
  readonly cacheDir?: string;
  /** The npm executable that installs dependencies on the host. Default: `npm`. */
  readonly npmCommand?: string;
  /** A package already made from `task.packagingTask`, to build instead of packaging again. */
  readonly packageInfo?: PackageInfo;
}

/**
 * Packages the task's job, installs its npm dependencies on the host, and builds an image from a
 * deterministic build context streamed to the engine. An image whose content was built before
 * (found by its `ferry.content-digest` label) is tagged, not built again.
 */
export async function makeContainer(
  task: ContaineringTask,
  options: MakeContainerOptions = {},
): Promise<ImageInfo> {
  const docker = options.docker ?? defaultDocker();
  const progress = options.onProgress ?? (() => undefined);
  await ensureDockerAvailable(docker);

  const keepWork = options.workDir !== undefined;
  const parent = options.workDir === undefined ? os.tmpdir() : path.resolve(options.workDir);
  await mkdir(parent, { recursive: true });
  const work = await mkdtemp(path.join(parent, keepWork ? 'build-' : 'ferry-build-'));
  try {
    let packageInfo = options.packageInfo;
    if (packageInfo === undefined) {
      progress({
        stage: 'packaging',
        message: `Packaging ${task.packagingTask.name} ${task.packagingTask.version}`,
      });
      packageInfo = await makePackage(task.packagingTask, {
        outputDir: work,
        onProgress: (stage, detail) =>
          progress({ stage: 'packaging', message: `${stage}: ${detail}` }),
      });
    }
    const installed = await installPackage(packageInfo.path, {
      installRoot: path.join(work, 'install'),
    });

    progress({
      stage: 'dependencies',
      message: describeDependencies(installed.manifest.dependencies),
    });
    const dependencies = await ensureDependencies(installed.manifest.dependencies, {
      ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }),
      ...(options.npmCommand === undefined ? {} : { npmCommand: options.npmCommand }),
      onProgress: (message) => progress({ stage: 'dependencies', message }),
    });

    const context = await assembleBuildContext({
      manifest: installed.manifest,
      packageDir: installed.dir,
      dependencies,
      runtime: await bundleRuntime(),
      baseImage: task.baseImage,
      entryFileName: task.entryFileName,
      dockerfileTemplate: await templateOf(
        task.dockerfileTemplate,
        'dockerfileTemplate',
        DEFAULT_DOCKERFILE_TEMPLATE,
      ),
      entryFileTemplate: await templateOf(
        task.entryFileTemplate,
        'entryFileTemplate',
        DEFAULT_ENTRY_FILE_TEMPLATE,
      ),
    });

    const baseLabels: Record<string, string> = {
      ...task.labels,
      [LABELS.job]: installed.manifest.name,
      [LABELS.version]: installed.manifest.version,
      [LABELS.uid]: installed.manifest.uid,
      [LABELS.ferryVersion]: installed.manifest.ferryVersion,
    };
    const contentDigest = sha256(
      JSON.stringify({ context: context.digest, labels: sortedRecord(baseLabels) }),
    );
    const labels = { ...baseLabels, [LABELS.contentDigest]: contentDigest };
    const imageTag = task.imageTag ?? defaultTag(installed.manifest.version, contentDigest);
    const reference = `${task.imageName}:${imageTag}`;
    const bytes = context.entries.reduce((sum, e) => sum + (e.type === 'file' ? e.size : 0), 0);
    progress({
      stage: 'context',
      message: `Build context ${contentDigest.slice(0, 12)}: ${context.entries.length} entries, ${bytes} bytes`,
    });

    const existing = await findImageByDigest(docker, contentDigest);
    if (existing !== undefined) {
      if (!existing.RepoTags?.includes(reference)) {
        await docker.getImage(existing.Id).tag({ repo: task.imageName, tag: imageTag });
      }
      progress({ stage: 'cached', message: `${reference} is already built (${existing.Id})` });
      return {
        imageName: task.imageName,
        imageTag,
        reference,
        imageId: existing.Id,
        contentDigest,
        labels,
        packageInfo,
        built: false,
      };
    }

    await runImageBuild(docker, contextTarStream(context.entries), {
      reference,
      labels,
      onOutput: ({ step, line }) =>
        progress(
          step === undefined
            ? { stage: 'build', message: line }
            : { stage: 'build', message: line, step },
        ),
    });
    const inspected = await docker.getImage(reference).inspect();
    return {
      imageName: task.imageName,
      imageTag,
      reference,
      imageId: inspected.Id,
      contentDigest,
      labels,
      packageInfo,
      built: true,
    };
  } finally {
    await rm(keepWork ? path.join(work, 'install') : work, { recursive: true, force: true });
  }
}

async function templateOf(
  source: string | undefined,
  field: string,
  defaultFile: string,
): Promise<TemplateSource> {
  return source === undefined
    ? loadDefaultTemplate(defaultFile)
    : { name: `ContaineringTask.${field}`, source };
}

async function findImageByDigest(
  docker: Dockerode,
  digest: string,
): Promise<Dockerode.ImageInfo | undefined> {
  try {
    const images = await docker.listImages({
      filters: JSON.stringify({ label: [`${LABELS.contentDigest}=${digest}`] }),
    });
    return images[0];
  } catch (error) {
    throw toDockerUnavailable(docker, error);
  }
}

/** `<version>-<12 hex of the content digest>`, with what a tag cannot hold replaced by `_`. */
export function defaultTag(version: string, contentDigest: string): string {
  return `${version.replace(/[^A-Za-z0-9_.-]/g, '_')}-${contentDigest.slice(0, 12)}`;
}

function describeDependencies(dependencies: Readonly<Record<string, { version: string }>>): string {
  const names = Object.keys(dependencies).sort();
  return names.length === 0
    ? 'The bundle imports no npm packages'
    : `The bundle imports ${names.map((n) => `${n}@${dependencies[n]?.version}`).join(', ')}`;
}

function sortedRecord(record: Readonly<Record<string, string>>): [string, string][] {
  return Object.keys(record)
    .sort()
    .map((key) => [key, record[key] ?? '']);
}
