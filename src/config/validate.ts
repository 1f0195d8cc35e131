/**
 * Validates parsed `ferry.config.json` content into a `FerryConfig`, collecting every problem with
 * the dotted key it is at (`targets.gpu-box.port: expected a port number 1-65535, got "22a"`).
 */
import os from 'node:os';
import path from 'node:path';
import semver from 'semver';
import {
  checkParameters,
  InvalidParametersError,
  type JobParameters,
} from '../parameters/index.js';
import type { GpuRequest, MountSpec } from '../routines/dockerOptions.js';
import { parseMemory } from '../routines/dockerOptions.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import type {
  AttachedTargetConfig,
  DefaultsConfig,
  DockerTargetSettings,
  FerryConfig,
  JobReference,
  LimitsConfig,
  LocalTargetConfig,
  RegistryAuthConfig,
  RemoteTargetConfig,
  TargetConfig,
} from './schema.js';

const PROJECT_NAME = /^[a-z0-9][a-z0-9._-]{0,99}$/;
const TARGET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const EXPORT_NAME = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const IMAGE_NAME =
  /^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

const TOP_KEYS = [
  '$schema',
  'project',
  'version',
  'job',
  'sourceRoot',
  'projectRoot',
  'exclude',
  'workDir',
  'defaults',
  'targets',
] as const;
const DOCKER_KEYS = [
  'type',
  'environment',
  'mounts',
  'limits',
  'gpus',
  'baseImage',
  'imageName',
  'removeContainer',
  'maxParallel',
  'dockerSocket',
] as const;
const REMOTE_KEYS = [
  ...DOCKER_KEYS,
  'host',
  'port',
  'user',
  'key',
  'knownHosts',
  'hostKeyFingerprint',
  'hostKeyCheck',
  'repository',
  'registryAuth',
] as const;

/** Collects issues while reading a JSON value; every read names its key path. */
class Reader {
  readonly issues: ConfigIssue[] = [];

  constructor(readonly root: string) {}

  fail(key: string, message: string): undefined {
    this.issues.push({ key, message });
    return undefined;
  }

  object(value: unknown, key: string): Record<string, unknown> | undefined {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
    return this.fail(key, `expected an object, got ${show(value)}`);
  }

  /** Reports keys that are not in `allowed`, suggesting the closest allowed one. */
  knownKeys(object: Record<string, unknown>, prefix: string, allowed: readonly string[]): void {
    for (const key of Object.keys(object)) {
      if (allowed.includes(key)) continue;
      const close = closest(key, allowed);
      this.fail(
        join(prefix, key),
        `unknown key${close === undefined ? '' : ` (did you mean "${close}"?)`}; allowed: ${allowed.filter((k) => k !== '$schema').join(', ')}`,
      );
    }
  }

  string(value: unknown, key: string, pattern?: RegExp, hint?: string): string | undefined {
    if (typeof value !== 'string' || value.trim() === '') {
      return this.fail(key, `expected ${hint ?? 'a non-empty string'}, got ${show(value)}`);
    }
    if (pattern !== undefined && !pattern.test(value)) {
      return this.fail(
        key,
        `expected ${hint ?? `a string matching ${pattern}`}, got ${show(value)}`,
      );
    }
    return value;
  }

  boolean(value: unknown, key: string): boolean | undefined {
    if (typeof value === 'boolean') return value;
    return this.fail(key, `expected true or false, got ${show(value)}`);
  }

  positiveInteger(value: unknown, key: string, what: string): number | undefined {
    if (typeof value === 'number' && Number.isInteger(value) && value > 0) return value;
    return this.fail(key, `expected ${what} (a whole number above 0), got ${show(value)}`);
  }

  stringList(value: unknown, key: string, pattern: RegExp, hint: string): string[] | undefined {
    if (!Array.isArray(value))
      return this.fail(key, `expected a list of ${hint}, got ${show(value)}`);
    const out: string[] = [];
    value.forEach((item, i) => {
      const s = this.string(item, `${key}[${i}]`, pattern, hint);
      if (s !== undefined) out.push(s);
    });
    return out;
  }

  /** A path relative to the config folder; `~/` is the home folder. */
  path(value: unknown, key: string): string | undefined {
    const s = this.string(value, key, undefined, 'a path');
    return s === undefined ? undefined : resolvePath(this.root, s);
  }
}

/** Resolves a config path: `~/…` from the home folder, relative from the config's folder. */
export function resolvePath(root: string, value: string): string {
  if (value === '~') return os.homedir();
  if (value.startsWith('~/')) return path.join(os.homedir(), value.slice(2));
  return path.resolve(root, value);
}

/**
 * Validates the parsed content of a config file. `file` is the file's path (messages and relative
 * paths). Throws `ConfigError` listing every problem.
 */
export function validateConfig(raw: unknown, file: string): FerryConfig {
  const root = path.dirname(path.resolve(file));
  const r = new Reader(root);
  const top = r.object(raw, '');
  if (top === undefined) throw new ConfigError(file, r.issues);
  r.knownKeys(top, '', TOP_KEYS);

  const project =
    top.project === undefined
      ? r.fail(
          'project',
          'is required: the job package and image name, e.g. "titanic-featurization"',
        )
      : r.string(
          top.project,
          'project',
          PROJECT_NAME,
          "1-100 lower-case letters, digits, '.', '-' or '_' (e.g. \"titanic-featurization\")",
        );
  let version: string | undefined;
  if (top.version === undefined) {
    version = r.fail('version', 'is required: a semver version such as "1.0.0"');
  } else if (typeof top.version !== 'string' || semver.valid(top.version) !== top.version) {
    version = r.fail(
      'version',
      `expected a semver version such as "1.0.0", got ${show(top.version)}`,
    );
  } else {
    version = top.version;
  }
  const job = readJob(r, top.job);
  const sourceRoot =
    top.sourceRoot === undefined
      ? r.fail(
          'sourceRoot',
          'is required: the folder the job\'s classes are exported from, e.g. "src"',
        )
      : r.path(top.sourceRoot, 'sourceRoot');
  const projectRoot =
    top.projectRoot === undefined ? undefined : r.path(top.projectRoot, 'projectRoot');
  const exclude =
    top.exclude === undefined
      ? undefined
      : r.stringList(top.exclude, 'exclude', /./, 'globs relative to the source root');
  const workDir =
    top.workDir === undefined ? path.join(root, '.ferry') : r.path(top.workDir, 'workDir');
  const targets = readTargets(r, top.targets);
  const defaults = readDefaults(r, top.defaults, targets);

  if (r.issues.length > 0) throw new ConfigError(file, r.issues);
  return {
    file: path.resolve(file),
    root,
    project: project!,
    version: version!,
    job: job!,
    sourceRoot: sourceRoot!,
    ...(projectRoot === undefined ? {} : { projectRoot }),
    ...(exclude === undefined ? {} : { exclude }),
    workDir: workDir!,
    defaults: defaults!,
    targets: targets!,
  };
}

function readJob(r: Reader, value: unknown): JobReference | undefined {
  if (value === undefined) {
    return r.fail('job', 'is required: { "module": "src/job.ts", "export": "createJob" }');
  }
  if (typeof value === 'string') {
    // Shorthand: "src/job.ts#createJob".
    const [module, exportName = 'default', ...rest] = value.split('#');
    if (rest.length > 0 || module === undefined || module === '') {
      return r.fail('job', `expected "module#export" or { module, export }, got ${show(value)}`);
    }
    const name = r.string(exportName, 'job', EXPORT_NAME, 'an export name after #');
    return name === undefined ? undefined : { module: resolvePath(r.root, module), export: name };
  }
  const object = r.object(value, 'job');
  if (object === undefined) return undefined;
  r.knownKeys(object, 'job', ['module', 'export']);
  const module =
    object.module === undefined
      ? r.fail('job.module', 'is required: the module exporting the job or a function creating it')
      : r.path(object.module, 'job.module');
  const exportName =
    object.export === undefined
      ? 'default'
      : r.string(object.export, 'job.export', EXPORT_NAME, 'an export name such as "createJob"');
  if (module === undefined || exportName === undefined) return undefined;
  return { module, export: exportName };
}

function readDefaults(
  r: Reader,
  value: unknown,
  targets: Readonly<Record<string, TargetConfig>> | undefined,
): DefaultsConfig | undefined {
  const object = value === undefined ? {} : r.object(value, 'defaults');
  if (object === undefined) return undefined;
  r.knownKeys(object, 'defaults', ['target', 'parameters']);
  let target: string | undefined = 'local';
  if (object.target !== undefined) {
    target = r.string(object.target, 'defaults.target', undefined, 'a target name');
    if (target !== undefined && targets !== undefined && targets[target] === undefined) {
      target = r.fail(
        'defaults.target',
        `no target named ${JSON.stringify(target)}; targets: ${Object.keys(targets).join(', ')}`,
      );
    }
  }
  let parameters: JobParameters | undefined = {};
  if (object.parameters !== undefined) {
    try {
      parameters = checkParameters(object.parameters, 'defaults.parameters');
    } catch (error) {
      if (!(error instanceof InvalidParametersError)) throw error;
      // The message starts with the key path already.
      const [key, ...rest] = error.message.split(': ');
      parameters = r.fail(key ?? 'defaults.parameters', rest.join(': '));
    }
  }
  if (target === undefined || parameters === undefined) return undefined;
  return { target, parameters };
}

function readTargets(r: Reader, value: unknown): Record<string, TargetConfig> | undefined {
  const targets: Record<string, TargetConfig> = {
    attached: { name: 'attached', type: 'attached', viaPackage: false },
    local: dockerDefaults('local'),
  };
  if (value === undefined) return targets;
  const object = r.object(value, 'targets');
  if (object === undefined) return undefined;
  let ok = true;
  for (const [name, spec] of Object.entries(object)) {
    const key = `targets.${name}`;
    if (!TARGET_NAME.test(name)) {
      r.fail(key, "a target name is letters, digits, '.', '-' and '_' (up to 63)");
      ok = false;
      continue;
    }
    const target = readTarget(r, name, spec, key);
    if (target === undefined) ok = false;
    else targets[name] = target;
  }
  return ok ? targets : undefined;
}

function dockerDefaults(name: string): LocalTargetConfig {
  return { name, type: 'local', environment: [], mounts: [], limits: {}, removeContainer: false };
}

function readTarget(
  r: Reader,
  name: string,
  value: unknown,
  key: string,
): TargetConfig | undefined {
  const object = r.object(value, key);
  if (object === undefined) return undefined;
  const before = r.issues.length;
  let type: string | undefined;
  if (object.type === undefined) {
    type = object.host !== undefined ? 'remote' : name === 'attached' ? 'attached' : 'local';
  } else if (object.type === 'attached' || object.type === 'local' || object.type === 'remote') {
    type = object.type;
  } else {
    r.fail(`${key}.type`, `expected "attached", "local" or "remote", got ${show(object.type)}`);
    return undefined;
  }
  if (type === 'attached') {
    r.knownKeys(object, key, ['type', 'viaPackage']);
    const viaPackage =
      object.viaPackage === undefined ? false : r.boolean(object.viaPackage, `${key}.viaPackage`);
    const target: AttachedTargetConfig = {
      name,
      type: 'attached',
      viaPackage: viaPackage ?? false,
    };
    return r.issues.length === before ? target : undefined;
  }
  r.knownKeys(object, key, type === 'remote' ? REMOTE_KEYS : DOCKER_KEYS);
  const docker = readDockerSettings(r, name, object, key);
  if (type === 'local') {
    return r.issues.length === before && docker !== undefined
      ? { ...docker, type: 'local' }
      : undefined;
  }
  const host =
    object.host === undefined
      ? r.fail(
          `${key}.host`,
          'is required for a remote target: the host name or address to reach over SSH',
        )
      : r.string(object.host, `${key}.host`, /^[^\s@]+$/, 'a host name or address');
  let port: number | undefined = 22;
  if (object.port !== undefined) {
    const p = object.port;
    port =
      typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65535
        ? p
        : r.fail(`${key}.port`, `expected a port number 1-65535, got ${show(p)}`);
  }
  const user =
    object.user === undefined
      ? undefined
      : r.string(object.user, `${key}.user`, /^[^\s@:]+$/, 'a user name');
  const keyPath = object.key === undefined ? undefined : r.path(object.key, `${key}.key`);
  const knownHosts =
    object.knownHosts === undefined ? undefined : r.path(object.knownHosts, `${key}.knownHosts`);
  let fingerprints: string[] | undefined;
  if (object.hostKeyFingerprint !== undefined) {
    const raw = object.hostKeyFingerprint;
    fingerprints = r.stringList(
      typeof raw === 'string' ? [raw] : raw,
      `${key}.hostKeyFingerprint`,
      /^SHA256:[A-Za-z0-9+/]{43}=?$/,
      'SHA256:… fingerprints as ssh-keygen -lf prints them',
    );
  }
  let hostKeyCheck: 'strict' | 'skip' | undefined = 'strict';
  if (object.hostKeyCheck !== undefined) {
    hostKeyCheck =
      object.hostKeyCheck === 'strict' || object.hostKeyCheck === 'skip'
        ? object.hostKeyCheck
        : r.fail(
            `${key}.hostKeyCheck`,
            `expected "strict" or "skip", got ${show(object.hostKeyCheck)}`,
          );
  }
  const repository =
    object.repository === undefined
      ? undefined
      : r.string(
          object.repository,
          `${key}.repository`,
          IMAGE_NAME,
          'a registry repository such as "registry.example.com:5000/team"',
        );
  let registryAuth: RegistryAuthConfig | undefined;
  if (object.registryAuth !== undefined) {
    const auth = r.object(object.registryAuth, `${key}.registryAuth`);
    if (auth !== undefined) {
      r.knownKeys(auth, `${key}.registryAuth`, ['username', 'passwordEnv']);
      const username = r.string(auth.username, `${key}.registryAuth.username`);
      const passwordEnv = r.string(
        auth.passwordEnv,
        `${key}.registryAuth.passwordEnv`,
        ENV_NAME,
        'the name of an environment variable holding the password (never the password itself)',
      );
      if (username !== undefined && passwordEnv !== undefined)
        registryAuth = { username, passwordEnv };
    }
    if (repository === undefined && object.repository === undefined) {
      r.fail(
        `${key}.registryAuth`,
        'is only used with a repository; add "repository" or remove it',
      );
    }
  }
  if (
    r.issues.length !== before ||
    docker === undefined ||
    host === undefined ||
    port === undefined
  ) {
    return undefined;
  }
  const target: RemoteTargetConfig = {
    ...docker,
    type: 'remote',
    host,
    port,
    dockerSocket: docker.dockerSocket ?? '/var/run/docker.sock',
    hostKeyCheck: hostKeyCheck ?? 'strict',
    ...(user === undefined ? {} : { user }),
    ...(keyPath === undefined ? {} : { key: keyPath }),
    ...(knownHosts === undefined ? {} : { knownHosts }),
    ...(fingerprints === undefined ? {} : { hostKeyFingerprints: fingerprints }),
    ...(repository === undefined ? {} : { repository }),
    ...(registryAuth === undefined ? {} : { registryAuth }),
  };
  return target;
}

function readDockerSettings(
  r: Reader,
  name: string,
  object: Record<string, unknown>,
  key: string,
): DockerTargetSettings | undefined {
  const before = r.issues.length;
  const environment =
    object.environment === undefined
      ? []
      : r.stringList(
          object.environment,
          `${key}.environment`,
          ENV_NAME,
          'environment variable names',
        );
  const mounts = object.mounts === undefined ? [] : readMounts(r, object.mounts, `${key}.mounts`);
  const limits = object.limits === undefined ? {} : readLimits(r, object.limits, `${key}.limits`);
  const gpus = object.gpus === undefined ? undefined : readGpus(r, object.gpus, `${key}.gpus`);
  const baseImage =
    object.baseImage === undefined
      ? undefined
      : r.string(
          object.baseImage,
          `${key}.baseImage`,
          /^\S+$/,
          'an image reference such as "node:20-bookworm-slim"',
        );
  const imageName =
    object.imageName === undefined
      ? undefined
      : r.string(
          object.imageName,
          `${key}.imageName`,
          IMAGE_NAME,
          'an image repository name such as "ferry/titanic"',
        );
  const removeContainer =
    object.removeContainer === undefined
      ? false
      : r.boolean(object.removeContainer, `${key}.removeContainer`);
  const maxParallel =
    object.maxParallel === undefined
      ? undefined
      : r.positiveInteger(
          object.maxParallel,
          `${key}.maxParallel`,
          'how many sweep runs may run at once',
        );
  const dockerSocket =
    object.dockerSocket === undefined
      ? undefined
      : r.string(
          object.dockerSocket,
          `${key}.dockerSocket`,
          /^\//,
          'an absolute path to the Docker socket on that host',
        );
  if (r.issues.length !== before) return undefined;
  return {
    name,
    environment: environment ?? [],
    mounts: mounts ?? [],
    limits: limits ?? {},
    removeContainer: removeContainer ?? false,
    ...(gpus === undefined ? {} : { gpus }),
    ...(baseImage === undefined ? {} : { baseImage }),
    ...(imageName === undefined ? {} : { imageName }),
    ...(maxParallel === undefined ? {} : { maxParallel }),
    ...(dockerSocket === undefined ? {} : { dockerSocket }),
  };
}

function readMounts(r: Reader, value: unknown, key: string): MountSpec[] | undefined {
  if (!Array.isArray(value)) {
    return r.fail(
      key,
      `expected a list of mounts ("/host:/container[:ro]" or { host, container, readOnly }), got ${show(value)}`,
    );
  }
  const mounts: MountSpec[] = [];
  value.forEach((item, i) => {
    const at = `${key}[${i}]`;
    if (typeof item === 'string') {
      const parts = item.split(':');
      const [hostPath, containerPath, mode] = parts;
      if (
        parts.length < 2 ||
        parts.length > 3 ||
        !hostPath?.startsWith('/') ||
        !containerPath?.startsWith('/') ||
        (mode !== undefined && mode !== 'ro' && mode !== 'rw')
      ) {
        r.fail(
          at,
          `expected "/host/path:/container/path" with an optional ":ro", got ${show(item)}`,
        );
        return;
      }
      mounts.push({ hostPath, containerPath, readOnly: mode === 'ro' });
      return;
    }
    const object = r.object(item, at);
    if (object === undefined) return;
    r.knownKeys(object, at, ['host', 'container', 'readOnly']);
    const hostPath = r.string(
      object.host,
      `${at}.host`,
      /^\//,
      'an absolute path on the target host',
    );
    const containerPath = r.string(
      object.container,
      `${at}.container`,
      /^\//,
      'an absolute path in the container',
    );
    const readOnly =
      object.readOnly === undefined ? false : r.boolean(object.readOnly, `${at}.readOnly`);
    if (hostPath !== undefined && containerPath !== undefined) {
      mounts.push({ hostPath, containerPath, readOnly: readOnly ?? false });
    }
  });
  return mounts;
}

function readLimits(r: Reader, value: unknown, key: string): LimitsConfig | undefined {
  const object = r.object(value, key);
  if (object === undefined) return undefined;
  r.knownKeys(object, key, ['cpus', 'memory']);
  const limits: { cpus?: number; memory?: number | string } = {};
  if (object.cpus !== undefined) {
    if (typeof object.cpus === 'number' && Number.isFinite(object.cpus) && object.cpus > 0) {
      limits.cpus = object.cpus;
    } else {
      r.fail(
        `${key}.cpus`,
        `expected a positive number of CPUs such as 1.5, got ${show(object.cpus)}`,
      );
    }
  }
  if (object.memory !== undefined) {
    const memory = object.memory;
    if (typeof memory !== 'number' && typeof memory !== 'string') {
      r.fail(`${key}.memory`, `expected bytes or a size such as "4g", got ${show(memory)}`);
    } else {
      try {
        parseMemory(memory);
        limits.memory = memory;
      } catch {
        r.fail(
          `${key}.memory`,
          `expected bytes or a size such as "512m" or "4g", got ${show(memory)}`,
        );
      }
    }
  }
  return limits;
}

function readGpus(r: Reader, value: unknown, key: string): GpuRequest | undefined {
  if (value === 'all') return 'all';
  if (typeof value === 'number' && Number.isInteger(value) && value > 0) return value;
  if (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((v) => typeof v === 'string' && v !== '')
  ) {
    return value as string[];
  }
  return r.fail(
    key,
    `expected "all", a number of GPUs, or a list of device ids such as ["0", "1"], got ${show(value)}`,
  );
}

function join(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}.${key}`;
}

/** A value as a message shows it: JSON, shortened. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The allowed name closest to `key` (edit distance at most 2, or a case-insensitive match). */
export function closest(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of allowed) {
    if (candidate.toLowerCase() === key.toLowerCase()) return candidate;
    const d = distance(key, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}
