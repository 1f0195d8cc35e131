import type { PackagingTask } from '../packaging/index.js';
import { InvalidContaineringTaskError } from './errors.js';
import {
  DEPENDENCY_MODES,
  IMAGE_PLATFORMS,
  isDependencyMode,
  isImagePlatform,
  type DependencyMode,
  type ImagePlatform,
} from './platform.js';

export const DEFAULT_BASE_IMAGE = 'node:20-bookworm-slim';
export const DEFAULT_ENTRY_FILE_NAME = 'entry.mjs';

/** Docker repository names: lower-case path components separated by `/`, an optional registry host first. */
const IMAGE_NAME =
  /^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const ENTRY_FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*\.(?:mjs|js)$/;

export interface ContaineringTaskFields {
  /** What to package: the job, its source root and version. */
  readonly packagingTask: PackagingTask;
  /** Image repository, e.g. `ferry/titanic` or `127.0.0.1:5000/ferry/titanic`. Default: `ferry/<package name>`. */
  readonly imageName?: string;
  /**
   * Tag to give the image besides its content tag. Default: `<version>-<content digest>`, which names
   * exactly one content, so an image that is already built is found and not built again.
   */
  readonly imageTag?: string;
  /**
   * Image to build on; it needs `node` on its PATH, and `npm` (with `/usr/bin/env`) when the
   * dependencies are installed in the image.
   */
  readonly baseImage?: string;
  /**
   * The platform the image is for, whose npm packages (optional per-platform packages, native
   * addons) it gets. Default: the target engine's platform when it is known (a remote target's),
   * else the building engine's, else linux on this machine's architecture.
   */
  readonly platform?: ImagePlatform;
  /**
   * How the npm packages the bundle imports get into the image. `host`: npm on this machine
   * installs them for the image's platform (`--os`/`--cpu`/`--libc`), cached, no npm or registry
   * needed by the build; native addons cannot be built that way for another platform. `image`:
   * `npm ci` runs in the image build (the base image needs npm, the build a reachable registry;
   * npm's cache is a BuildKit cache mount where the engine has BuildKit). `auto` (default): `host`,
   * unless a package has install scripts, which then run in the image.
   */
  readonly dependencies?: DependencyMode;
  /** Name of the generated entry file in `/app`. */
  readonly entryFileName?: string;
  /** Handlebars source of the entry file, instead of `templates/entry.mjs.hbs`. */
  readonly entryFileTemplate?: string;
  /** Handlebars source of the Dockerfile, instead of `templates/Dockerfile.hbs`. */
  readonly dockerfileTemplate?: string;
  /** Extra labels for the image (Ferry's own `ferry.*` labels are always set). */
  readonly labels?: Readonly<Record<string, string>>;
}

/** What to build: a DTO, validated on construction; `makeContainer` does the work. */
export class ContaineringTask {
  readonly packagingTask: PackagingTask;
  readonly imageName: string;
  readonly imageTag: string | undefined;
  readonly baseImage: string;
  readonly platform: ImagePlatform | undefined;
  readonly dependencies: DependencyMode;
  readonly entryFileName: string;
  readonly entryFileTemplate: string | undefined;
  readonly dockerfileTemplate: string | undefined;
  readonly labels: Readonly<Record<string, string>>;

  constructor(fields: ContaineringTaskFields) {
    if (fields.packagingTask === undefined || fields.packagingTask === null) {
      throw new InvalidContaineringTaskError('packagingTask', 'is required');
    }
    this.packagingTask = fields.packagingTask;
    this.imageName = check(
      'imageName',
      fields.imageName ?? `ferry/${fields.packagingTask.name}`,
      IMAGE_NAME,
      "use lower-case letters, digits and separators, e.g. 'ferry/titanic'",
    );
    this.imageTag =
      fields.imageTag === undefined
        ? undefined
        : check('imageTag', fields.imageTag, IMAGE_TAG, "use letters, digits, '_', '.' and '-'");
    this.baseImage = fields.baseImage ?? DEFAULT_BASE_IMAGE;
    if (this.baseImage.trim() === '') {
      throw new InvalidContaineringTaskError('baseImage', 'is empty');
    }
    if (fields.platform !== undefined && !isImagePlatform(fields.platform)) {
      throw new InvalidContaineringTaskError(
        'platform',
        `${JSON.stringify(fields.platform)} is not an image platform Ferry builds for; expected ${IMAGE_PLATFORMS.map((p) => `"${p}"`).join(' or ')}`,
      );
    }
    this.platform = fields.platform;
    if (fields.dependencies !== undefined && !isDependencyMode(fields.dependencies)) {
      throw new InvalidContaineringTaskError(
        'dependencies',
        `${JSON.stringify(fields.dependencies)} is not a dependency install mode; expected ${DEPENDENCY_MODES.map((m) => `"${m}"`).join(', ')}`,
      );
    }
    this.dependencies = fields.dependencies ?? 'auto';
    this.entryFileName = check(
      'entryFileName',
      fields.entryFileName ?? DEFAULT_ENTRY_FILE_NAME,
      ENTRY_FILE_NAME,
      "expected a plain file name ending in .mjs or .js, e.g. 'entry.mjs'",
    );
    this.entryFileTemplate = fields.entryFileTemplate;
    this.dockerfileTemplate = fields.dockerfileTemplate;
    this.labels = { ...(fields.labels ?? {}) };
    for (const key of Object.keys(this.labels)) {
      if (key.startsWith('ferry.')) {
        throw new InvalidContaineringTaskError(
          'labels',
          `${JSON.stringify(key)}: the ferry.* labels are Ferry's own`,
        );
      }
    }
  }
}

function check(field: string, value: string, pattern: RegExp, hint: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new InvalidContaineringTaskError(field, `${JSON.stringify(value)} is not valid; ${hint}`);
  }
  return value;
}
