import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type Dockerode from 'dockerode';
import { installPackage, makePackage, type PackageInfo } from '../packaging/index.js';
import {
  assembleBuildContext,
  dependenciesContext,
  dependenciesVariables,
  dependencyList,
  withDockerfile,
  type DependenciesInstall,
} from './buildContext.js';
import type { ContaineringTask } from './containeringTask.js';
import { contextTarStream, sha256 } from './contextTar.js';
import { ensureDependencies, npmProject, type ScriptedPackage } from './dependencies.js';
import {
  defaultImagePlatform,
  enginePlatformOf,
  hostPlatform,
  isImagePlatform,
  npmCpuOf,
  supportsBuildKit,
  type EngineVersion,
  type ImagePlatform,
} from './platform.js';
import {
  describeEngine,
  engineStatus,
  ensureDockerAvailable,
  toDockerUnavailable,
} from '../engines/dockerApi.js';
import { DependencyModeError, ImageBuildError, ImagePlatformError } from './errors.js';
import type { ExternalDependencies, LockedPackages } from '../packaging/dependencies.js';
import { localDockerClient } from '../engines/engine.js';
import { buildFolderPrefix, removeAbandonedBuildFolders, withBuildLock } from './buildLock.js';
import { runImageBuild } from './imageBuild.js';
import { bundleRuntime } from './runtimeBundle.js';
import {
  DEFAULT_DEPENDENCIES_DOCKERFILE_TEMPLATE,
  DEFAULT_DOCKERFILE_TEMPLATE,
  DEFAULT_ENTRY_FILE_TEMPLATE,
  loadDefaultTemplate,
  renderTemplate,
  type TemplateSource,
} from './templates.js';

/** Labels Ferry puts on every image it builds (and, with `ferry.run-id`, on every container). */
export const LABELS = {
  job: 'ferry.job',
  version: 'ferry.version',
  uid: 'ferry.uid',
  contentDigest: 'ferry.content-digest',
  ferryVersion: 'ferry.ferry-version',
  dependenciesDigest: 'ferry.dependencies-digest',
  dependencies: 'ferry.dependencies',
  /** `linux/amd64` or `linux/arm64`: the platform the image (and its npm packages) is for. */
  platform: 'ferry.platform',
  /** `host` or `image`: where the dependencies image's npm packages were installed. */
  dependenciesInstall: 'ferry.dependencies-install',
} as const;

/** Repository of the images holding a base image plus a job's npm dependencies, tagged by digest. */
export const DEPENDENCIES_IMAGE_NAME = 'ferry/dependencies';

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
  /** The platform the image and its npm packages are for. */
  readonly platform: ImagePlatform;
  /** Where its npm packages were installed (`undefined`: the bundle imports none). */
  readonly dependenciesInstall: 'host' | 'image' | undefined;
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
   * Where the package archive is kept, as `<workDir>/packages/<uid>.tar.gz`; each build works in a
   * sub-folder of its own, removed afterwards. Default: a temporary folder, removed with the archive
   * after the build, so `packageInfo.path` then no longer exists.
   */
  readonly workDir?: string;
  /** Ferry's cache root (installed npm dependencies). Default: see `defaultCacheDir`. */
  readonly cacheDir?: string;
  /** The npm executable that installs dependencies on the host (`dependencies: "host"`). Default: `npm`. */
  readonly npmCommand?: string;
  /** A package already made from `task.packagingTask`, to build instead of packaging again. */
  readonly packageInfo?: PackageInfo;
}

/**
 * Packages the task's job, installs its npm dependencies for the image's platform (on the host or
 * in the image build, see `ContaineringTask.dependencies`), and builds an image from a
 * deterministic build context streamed to the engine. An image whose content was built before
 * (found by its `ferry.content-digest` label) is tagged, not built again.
 */
export async function makeContainer(
  task: ContaineringTask,
  options: MakeContainerOptions = {},
): Promise<ImageInfo> {
  const docker = options.docker ?? localDockerClient();
  const progress = options.onProgress ?? (() => undefined);
  await ensureDockerAvailable(docker);
  const version = await engineVersion(docker);
  const platform = task.platform ?? builderDefaultPlatform(version);
  await checkBaseImagePlatform(docker, task, platform);

  const keptIn = options.workDir === undefined ? undefined : path.resolve(options.workDir);
  const parent = keptIn ?? os.tmpdir();
  await mkdir(parent, { recursive: true });
  await removeAbandonedBuildFolders(parent);
  // This build's own folder: concurrent builds never share one; named by pid, so one left by a
  // killed process is found and removed by the next build.
  const work = await mkdtemp(buildFolderPrefix(parent));
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
      if (keptIn !== undefined) {
        // Named by UID, which names its content: replacing an equal file is harmless.
        const kept = path.join(keptIn, 'packages', path.basename(packageInfo.path));
        await mkdir(path.dirname(kept), { recursive: true });
        await rename(packageInfo.path, kept);
        packageInfo = { ...packageInfo, path: kept };
      }
    }
    const installed = await installPackage(packageInfo.path, {
      installRoot: path.join(work, 'install'),
    });

    progress({
      stage: 'dependencies',
      message: describeDependencies(installed.manifest.dependencies),
    });
    const install = await chooseDependenciesInstall(
      task,
      platform,
      installed.manifest.dependencies,
      installed.manifest.lockedDependencies,
      supportsBuildKit(version),
      options,
      progress,
    );
    const dependenciesImage =
      install === undefined
        ? task.baseImage
        : await ensureDependenciesImage(
            docker,
            task,
            platform,
            install,
            installed.manifest.dependencies,
            progress,
          );

    const context = await assembleBuildContext({
      manifest: installed.manifest,
      packageDir: installed.dir,
      dependenciesImage,
      baseImage: task.baseImage,
      runtime: await bundleRuntime(),
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
      [LABELS.platform]: platform,
    };
    const contentDigest = sha256(
      JSON.stringify({ context: context.digest, labels: sortedRecord(baseLabels) }),
    );
    const labels = { ...baseLabels, [LABELS.contentDigest]: contentDigest };
    // Every image is tagged with its content tag, which names exactly one content: looking that tag
    // up (and checking its digest label) is how an image already built is found. Labels alone would
    // not do: images built FROM a Ferry image inherit them.
    const contentTag = defaultTag(installed.manifest.version, contentDigest);
    const imageTag = task.imageTag ?? contentTag;
    const reference = `${task.imageName}:${imageTag}`;
    const bytes = context.entries.reduce((sum, e) => sum + (e.type === 'file' ? e.size : 0), 0);
    progress({
      stage: 'context',
      message: `Build context ${contentDigest.slice(0, 12)} on ${dependenciesImage} for ${platform}: ${context.entries.length} entries, ${bytes} bytes`,
    });

    return await withBuildLock(describeEngine(docker), contentDigest, async () => {
      const existing = await findByTag(
        docker,
        `${task.imageName}:${contentTag}`,
        LABELS.contentDigest,
        contentDigest,
      );
      if (existing !== undefined) {
        await tagImage(docker, existing, task.imageName, imageTag);
        progress({ stage: 'cached', message: `${reference} is already built (${existing})` });
        return {
          imageName: task.imageName,
          imageTag,
          reference,
          imageId: existing,
          contentDigest,
          labels,
          packageInfo,
          platform,
          dependenciesInstall: install?.kind,
          built: false,
        };
      }

      const imageId = await buildTagged(
        docker,
        withDockerfile(context.entries, context.dockerfile, labels),
        `${task.imageName}:${contentTag}`,
        { platform },
        (line, step) =>
          progress({ stage: 'build', message: line, ...(step === undefined ? {} : { step }) }),
      );
      await tagImage(docker, imageId, task.imageName, imageTag);
      return {
        imageName: task.imageName,
        imageTag,
        reference,
        imageId,
        contentDigest,
        labels,
        packageInfo,
        platform,
        dependenciesInstall: install?.kind,
        built: true,
      };
    });
  } finally {
    await rm(work, { recursive: true, force: true });
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

/** The engine's `/version` (its platform, API version). */
async function engineVersion(docker: Dockerode): Promise<EngineVersion> {
  try {
    return (await docker.version()) as EngineVersion;
  } catch (error) {
    throw toDockerUnavailable(docker, error);
  }
}

/** The image platform when the task names none: the building engine's, else linux on this machine's architecture. */
function builderDefaultPlatform(version: EngineVersion): ImagePlatform {
  const engine = enginePlatformOf(version);
  return isImagePlatform(engine) ? engine : defaultImagePlatform();
}

/**
 * A base image on the engine made for another platform would give an image whose npm packages and
 * base disagree (an old engine builds FROM it without a word): refused, saying what to pull. A base
 * image that is not there yet is left to the build to pull, for the platform.
 */
async function checkBaseImagePlatform(
  docker: Dockerode,
  task: ContaineringTask,
  platform: ImagePlatform,
): Promise<void> {
  let image: { Os?: string; Architecture?: string };
  try {
    image = await docker.getImage(task.baseImage).inspect();
  } catch (error) {
    if (engineStatus(error) === 404) return;
    throw toDockerUnavailable(docker, error);
  }
  const base = enginePlatformOf({ Os: image.Os, Arch: image.Architecture });
  if (base !== undefined && base !== platform) {
    throw new ImagePlatformError(
      `the base image ${task.baseImage} on ${describeEngine(docker)} is ${base}, but the image is for ${platform}${task.platform === undefined ? " (the engine's platform, as ContaineringTask.platform / the target's platform key is not set)" : " (ContaineringTask.platform / the target's platform key)"}: pull the base image for that platform (docker pull --platform ${platform} ${task.baseImage}) or set the platform to ${base}`,
    );
  }
}

/**
 * Where the npm packages the bundle imports are installed (docs/design.md §6): `host` installs
 * them here for the image's platform; `image` runs npm in the image build; `auto` installs here
 * unless a package has install scripts, which must run on the image's platform, with its node.
 */
async function chooseDependenciesInstall(
  task: ContaineringTask,
  platform: ImagePlatform,
  dependencies: ExternalDependencies,
  locked: LockedPackages,
  buildkit: boolean,
  options: MakeContainerOptions,
  progress: (progress: ContaineringProgress) => void,
): Promise<DependenciesInstall | undefined> {
  if (Object.keys(dependencies).length === 0) return undefined;
  const inImage: DependenciesInstall = {
    kind: 'image',
    project: npmProject(dependencies, locked),
    npmCacheMount: buildkit,
  };
  if (task.dependencies === 'image') return inImage;
  // The lockfile says which packages have install scripts: `auto` then needs no host install.
  const lockedScripts = task.dependencies === 'auto' ? scriptedInLockfile(locked, platform) : [];
  if (lockedScripts.length > 0) {
    progress({
      stage: 'dependencies',
      message: `${lockedScripts.join(', ')} ${lockedScripts.length === 1 ? 'has' : 'have'} install scripts (package-lock.json), which must run on ${platform} with the image's node: installing in the image (dependencies "auto")`,
    });
    return inImage;
  }
  const cached = await ensureDependencies(dependencies, locked, {
    target: { platform, libc: 'glibc' },
    ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }),
    ...(options.npmCommand === undefined ? {} : { npmCommand: options.npmCommand }),
    onProgress: (message) => progress({ stage: 'dependencies', message }),
  });
  if (cached === undefined) return undefined;
  const scripted = cached.scripted;
  if (scripted.length > 0 && task.dependencies === 'auto') {
    progress({
      stage: 'dependencies',
      message: `${describeScripted(scripted)} install scripts, which must run on ${platform} with the image's node: installing in the image (dependencies "auto")`,
    });
    return inImage;
  }
  const natives = scripted.filter((p) => p.native);
  const host = hostPlatform();
  if (natives.length > 0 && host !== platform) {
    throw new DependencyModeError(
      `${describeScripted(natives)} native addons (${natives.map((p) => `${p.name}: ${Object.values(p.scripts).join('; ')}`).join(', ')}), which cannot be built on this ${host} host for a ${platform} image: set the dependency install mode to "image" (the target's "dependencies" key, or ContaineringTask.dependencies) so npm installs them in the image build, which needs npm in the base image ${task.baseImage} and a registry the build reaches`,
    );
  }
  if (scripted.length > 0) {
    progress({
      stage: 'dependencies',
      message: `warning: the install scripts of ${scripted.map((p) => p.name).join(', ')} were not run (dependencies "host" installs with --ignore-scripts); if a package needs its script, set dependencies to "image"`,
    });
  }
  return { kind: 'host', cached };
}

/** Names of the locked packages for `platform` that have install scripts. */
function scriptedInLockfile(locked: LockedPackages, platform: ImagePlatform): string[] {
  return Object.keys(locked)
    .filter((at) => {
      const entry = locked[at];
      return (
        entry?.hasInstallScript === true &&
        fitsPlatform(entry.os, 'linux') &&
        fitsPlatform(entry.cpu, npmCpuOf(platform))
      );
    })
    .map((at) => at.replace(/^.*node_modules\//, ''));
}

/** npm's `os`/`cpu` lists: absent, naming the value, or only excluding others (`!win32`). */
function fitsPlatform(list: readonly string[] | undefined, value: string): boolean {
  if (list === undefined || list.length === 0) return true;
  if (list.includes(`!${value}`)) return false;
  const allowed = list.filter((item) => !item.startsWith('!'));
  return allowed.length === 0 || allowed.includes(value);
}

function describeScripted(packages: readonly ScriptedPackage[]): string {
  const names = packages.map((p) => p.name);
  return names.length === 1 ? `${names[0]} has` : `${names.join(', ')} have`;
}

/**
 * The image holding the base image plus `/app/node_modules` for this dependency list and
 * platform, built once (and found again by its digest label): jobs then send only their own files
 * as build context, however large their dependencies are.
 */
async function ensureDependenciesImage(
  docker: Dockerode,
  task: ContaineringTask,
  platform: ImagePlatform,
  install: DependenciesInstall,
  dependencies: Readonly<Record<string, { version: string }>>,
  progress: (progress: ContaineringProgress) => void,
): Promise<string> {
  const baseImage = task.baseImage;
  const baseId = await baseImageId(docker, baseImage);
  const template = await loadDefaultTemplate(DEFAULT_DEPENDENCIES_DOCKERFILE_TEMPLATE);
  const dockerfile = renderTemplate(
    template,
    dependenciesVariables(baseImage, dependencies, platform, install),
  );
  const context = dependenciesContext(install, dockerfile);
  const digest = sha256(JSON.stringify({ baseId, platform, context: context.digest }));
  const tag = digest.slice(0, 16);
  const reference = `${DEPENDENCIES_IMAGE_NAME}:${tag}`;
  return withBuildLock(describeEngine(docker), digest, async () => {
    if ((await findByTag(docker, reference, LABELS.dependenciesDigest, digest)) !== undefined) {
      return reference;
    }
    const labels = {
      [LABELS.dependenciesDigest]: digest,
      [LABELS.dependencies]: dependencyList(dependencies),
      [LABELS.platform]: platform,
      [LABELS.dependenciesInstall]: install.kind,
    };
    progress({
      stage: 'dependencies',
      message:
        install.kind === 'host'
          ? `Building ${reference} (${baseImage} + node_modules installed on the host for ${platform})`
          : `Building ${reference} (${baseImage} + npm ${install.project.lockfile === undefined ? 'install' : 'ci'} in the image for ${platform}${install.npmCacheMount ? ', npm cache in a BuildKit cache mount' : ''})`,
    });
    try {
      await buildTagged(
        docker,
        withDockerfile(
          context.entries.filter((e) => e.path !== 'Dockerfile'),
          dockerfile,
          labels,
        ),
        reference,
        { platform, buildkit: install.kind === 'image' && install.npmCacheMount },
        (line, step) =>
          progress({
            stage: 'dependencies',
            message: line,
            ...(step === undefined ? {} : { step }),
          }),
      );
    } catch (error) {
      throw install.kind === 'image' ? explainInImageFailure(error, baseImage) : error;
    }
    return reference;
  });
}

/** An in-image install whose npm cannot start is the base image's lack, said as such. */
function explainInImageFailure(error: unknown, baseImage: string): unknown {
  if (
    error instanceof ImageBuildError &&
    error.step !== undefined &&
    /RUN /.test(error.step) &&
    // The classic builder says it in the error, BuildKit in the step's output.
    /executable file not found|no such file or directory/i.test(`${error.detail}\n${error.output}`)
  ) {
    const said =
      /^.*(?:executable file not found|no such file or directory).*$/im.exec(
        `${error.detail}\n${error.output}`,
      )?.[0] ?? error.detail;
    return new DependencyModeError(
      `the base image ${baseImage} has no npm that can run (${said.trim()}), and dependencies "image" installs the job's npm packages with the base image's npm (and /usr/bin/env, which npm's launcher needs): use a base image with npm, such as node:20-bookworm-slim, or set the target's "dependencies" key (ContaineringTask.dependencies) to "host" to install them on this machine`,
      { cause: error },
    );
  }
  return error;
}

async function baseImageId(docker: Dockerode, baseImage: string): Promise<string> {
  try {
    return (await docker.getImage(baseImage).inspect()).Id;
  } catch (error) {
    if (engineStatus(error) === 404) {
      throw new ImageBuildError(
        `FROM ${baseImage}`,
        `the base image ${baseImage} is not on this engine: pull or load it first (here, scripts/testbed.sh up builds it)`,
        '',
      );
    }
    throw toDockerUnavailable(docker, error);
  }
}

async function buildTagged(
  docker: Dockerode,
  entries: Parameters<typeof contextTarStream>[0],
  reference: string,
  how: { readonly platform: ImagePlatform; readonly buildkit?: boolean },
  onOutput: (line: string, step: string | undefined) => void,
): Promise<string> {
  await runImageBuild(docker, contextTarStream(entries), {
    reference,
    platform: how.platform,
    ...(how.buildkit === true ? { buildkit: true } : {}),
    onOutput: ({ step, line }) => onOutput(line, step),
  });
  try {
    return (await docker.getImage(reference).inspect()).Id;
  } catch (error) {
    throw toDockerUnavailable(docker, error);
  }
}

/** The id of the image tagged `reference` when its `label` has `value`; else undefined. */
async function findByTag(
  docker: Dockerode,
  reference: string,
  label: string,
  value: string,
): Promise<string | undefined> {
  try {
    const image = await docker.getImage(reference).inspect();
    return image.Config.Labels?.[label] === value ? image.Id : undefined;
  } catch (error) {
    if (engineStatus(error) === 404) return undefined;
    throw toDockerUnavailable(docker, error);
  }
}

async function tagImage(
  docker: Dockerode,
  imageId: string,
  repo: string,
  tag: string,
): Promise<void> {
  try {
    await docker.getImage(imageId).tag({ repo, tag });
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
