/**
 * The shape of `ferry.config.json` once validated and resolved (paths absolute, defaults filled).
 * `validateConfig` in `validate.ts` builds it from the parsed JSON.
 */
import type { GpuRequest, MountSpec } from '../routines/dockerOptions.js';
import type { JobParameters } from '../parameters/index.js';

export const CONFIG_FILE_NAME = 'ferry.config.json';

/** Where the CLI finds the job object: a module and one of its exports. */
export interface JobReference {
  /** Absolute path of the module (given relative to the config file). */
  readonly module: string;
  /**
   * The export: a job instance, or a function (sync or async, no arguments) returning one.
   * Default: `default`.
   */
  readonly export: string;
}

export interface LimitsConfig {
  /** CPUs, e.g. 1.5. */
  readonly cpus?: number;
  /** Bytes or a size such as `'4g'`. */
  readonly memory?: number | string;
}

export type TargetType = 'attached' | 'local' | 'remote';

export interface AttachedTargetConfig {
  readonly name: string;
  readonly type: 'attached';
  /** Run a copy loaded back from the package instead of the object itself. Default: false. */
  readonly viaPackage: boolean;
}

/** What local and remote Docker targets share: how the container runs. */
export interface DockerTargetSettings {
  readonly name: string;
  /** Names of environment variables read when a run starts and passed to its container. */
  readonly environment: readonly string[];
  readonly mounts: readonly MountSpec[];
  readonly limits: LimitsConfig;
  readonly gpus?: GpuRequest;
  /** Image to build on. Default: `node:20-bookworm-slim`. */
  readonly baseImage?: string;
  /** Image repository name. Default: `ferry/<project>` (or `<repository>/<project>` for a remote with a registry). */
  readonly imageName?: string;
  /** Remove a run's container once it ended and its logs were read. Default: false (runs stay listable). */
  readonly removeContainer: boolean;
  /** How many runs of a sweep may run at once. Default: one per GPU when `gpus` is a count or list, else 1. */
  readonly maxParallel?: number;
  /**
   * The Docker socket on the target's host. Local default: `DOCKER_HOST`'s socket, else
   * `/var/run/docker.sock`; remote default `/var/run/docker.sock`. A sweep's queue runner mounts it.
   */
  readonly dockerSocket?: string;
}

export interface LocalTargetConfig extends DockerTargetSettings {
  readonly type: 'local';
}

export interface RegistryAuthConfig {
  readonly username: string;
  /** Name of the environment variable holding the password or token (never the password itself). */
  readonly passwordEnv: string;
}

export interface RemoteTargetConfig extends DockerTargetSettings {
  readonly type: 'remote';
  readonly host: string;
  /** Default: 22. */
  readonly port: number;
  /** Default: the local user's name. */
  readonly user?: string;
  /** Private key file (absolute). Default: ssh-agent, then `~/.ssh/id_*`. */
  readonly key?: string;
  /** known_hosts file (absolute). Default: `~/.ssh/known_hosts`. */
  readonly knownHosts?: string;
  /** Pinned host key fingerprints (`SHA256:…`); when given, known_hosts is not read. */
  readonly hostKeyFingerprints?: readonly string[];
  /** `'strict'` (default) or `'skip'` (accept any host key, loudly). */
  readonly hostKeyCheck: 'strict' | 'skip';
  /** Registry repository to ship images through (push here, pull there), e.g. `127.0.0.1:5000/ferry`. */
  readonly repository?: string;
  readonly registryAuth?: RegistryAuthConfig;
  readonly dockerSocket: string;
}

export type DockerTargetConfig = LocalTargetConfig | RemoteTargetConfig;
export type TargetConfig = AttachedTargetConfig | DockerTargetConfig;

export interface DefaultsConfig {
  /** The target `run` and `sweep` use without `--target`. Default: `local`. */
  readonly target: string;
  /** Parameters every run gets, under the ones given on the command line. Default: `{}`. */
  readonly parameters: JobParameters;
}

export interface FerryConfig {
  /** The config file (absolute). */
  readonly file: string;
  /** Its folder: relative paths in the file are resolved from here. */
  readonly root: string;
  /** Package and image name (lower-case letters, digits, `.`, `-`, `_`). */
  readonly project: string;
  /** Semver version of the job. */
  readonly version: string;
  readonly job: JobReference;
  /** The folder whose modules are bundled (absolute). */
  readonly sourceRoot: string;
  /** Folder with the project's package.json and lockfile (absolute). Default: nearest above the source root. */
  readonly projectRoot?: string;
  /** Globs under the source root left out of the package. */
  readonly exclude?: readonly string[];
  /** Where packages, builds and run records go (absolute). Default: `<root>/.ferry`. */
  readonly workDir: string;
  readonly defaults: DefaultsConfig;
  /** By name; always holds `attached` and `local` (built in unless the file defines them). */
  readonly targets: Readonly<Record<string, TargetConfig>>;
}
