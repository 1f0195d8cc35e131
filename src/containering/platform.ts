/**
 * The platform an image is built for (`linux/amd64`, `linux/arm64`): what its npm dependencies
 * must be installed for, whatever the host Ferry runs on is (docs/design.md §6).
 */
import { ImagePlatformError } from './errors.js';

/** The image platforms Ferry builds for. */
export const IMAGE_PLATFORMS = ['linux/amd64', 'linux/arm64'] as const;
export type ImagePlatform = (typeof IMAGE_PLATFORMS)[number];

/** How a job's npm dependencies get into its image (see `ContaineringTask.dependencies`). */
export const DEPENDENCY_MODES = ['auto', 'host', 'image'] as const;
export type DependencyMode = (typeof DEPENDENCY_MODES)[number];

export function isImagePlatform(value: unknown): value is ImagePlatform {
  return typeof value === 'string' && (IMAGE_PLATFORMS as readonly string[]).includes(value);
}

export function isDependencyMode(value: unknown): value is DependencyMode {
  return typeof value === 'string' && (DEPENDENCY_MODES as readonly string[]).includes(value);
}

/** npm's and Node's names (`process.arch`, npm `--cpu`) for an image platform's architecture. */
export function npmCpuOf(platform: ImagePlatform): 'x64' | 'arm64' {
  return platform === 'linux/amd64' ? 'x64' : 'arm64';
}

/** Docker's `os/arch` for a Node `platform`/`arch` pair (`linux`/`x64` → `linux/amd64`). */
export function dockerPlatformOf(nodePlatform: string, nodeArch: string): string {
  const arch = nodeArch === 'x64' ? 'amd64' : nodeArch === 'ia32' ? '386' : nodeArch;
  return `${nodePlatform}/${arch}`;
}

/** This machine's platform in Docker's terms (`darwin/arm64` on an Apple laptop). */
export function hostPlatform(): string {
  return dockerPlatformOf(process.platform, process.arch);
}

/** The image platform when neither the task nor the target engine says: linux on the host's architecture. */
export function defaultImagePlatform(): ImagePlatform {
  const guess = `linux/${hostPlatform().split('/')[1] ?? ''}`;
  return isImagePlatform(guess) ? guess : 'linux/amd64';
}

/** Docker's `/version` as much as the platform needs. */
export interface EngineVersion {
  readonly Os?: string;
  readonly Arch?: string;
  readonly ApiVersion?: string;
}

/** `os/arch` of an engine from its `/version` (`aarch64` as Docker names it: `arm64`). */
export function enginePlatformOf(version: EngineVersion): string | undefined {
  if (typeof version.Os !== 'string' || typeof version.Arch !== 'string') return undefined;
  const arch =
    version.Arch === 'aarch64' ? 'arm64' : version.Arch === 'x86_64' ? 'amd64' : version.Arch;
  return `${version.Os.toLowerCase()}/${arch}`;
}

/**
 * The platform to build for a target engine: the one configured (under config key `key`, or
 * `ContaineringTask.platform`), which must be the engine's, else the engine's own. Errors name
 * the key, both platforms and what to do.
 */
export function platformForEngine(
  configured: ImagePlatform | undefined,
  engine: string | undefined,
  where: string,
  key: string,
): ImagePlatform {
  if (configured !== undefined) {
    if (engine !== undefined && engine !== configured) {
      throw new ImagePlatformError(
        `${key} (ContaineringTask.platform) is ${configured}, but the Docker engine at ${where} runs ${engine} images: set ${key} to ${isImagePlatform(engine) ? `"${engine}"` : "the engine's platform"} or remove it (the engine's platform is the default), or use a target whose engine runs ${configured}`,
      );
    }
    return configured;
  }
  if (engine === undefined) return defaultImagePlatform();
  if (!isImagePlatform(engine)) {
    throw new ImagePlatformError(
      `the Docker engine at ${where} runs ${engine} images; Ferry builds images for ${IMAGE_PLATFORMS.join(' and ')} (${key})`,
    );
  }
  return engine;
}

/** Whether an engine's builder takes BuildKit builds (API 1.39, Docker 18.09, on Linux) and so cache mounts. */
export function supportsBuildKit(version: EngineVersion): boolean {
  if (version.Os !== undefined && version.Os.toLowerCase() !== 'linux') return false;
  const [major = 0, minor = 0] = (version.ApiVersion ?? '0.0').split('.').map(Number);
  return major > 1 || (major === 1 && minor >= 39);
}
