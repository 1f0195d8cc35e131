import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { FerryError } from '../errors.js';
import { InvalidJobError } from '../routines/errors.js';
import { assertJob, type Job } from '../routines/job.js';
import { closest } from '../validation/issues.js';
import {
  ConfigError,
  ConfigNotFoundError,
  JobLoadError,
  UnknownTargetError,
  type ConfigIssue,
} from './errors.js';
import { collectAssets } from '../packaging/assets.js';
import { findProjectRoot } from '../packaging/dependencies.js';
import { AssetError } from '../packaging/errors.js';
import { importProjectModule } from '../packaging/importModule.js';
import { CONFIG_FILE_NAME, type FerryConfig, type TargetConfig } from './schema.js';
import { validateConfig } from './validate.js';

export interface LoadConfigOptions {
  /** The config file. Default: `ferry.config.json` in `cwd` or the nearest folder above it. */
  readonly file?: string;
  /** Where to start looking. Default: `process.cwd()`. */
  readonly cwd?: string;
}

/** The nearest `ferry.config.json` at or above `from`, or undefined. */
export function findConfigFile(from: string = process.cwd()): string | undefined {
  let dir = path.resolve(from);
  for (;;) {
    const candidate = path.join(dir, CONFIG_FILE_NAME);
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * Reads and validates the project's config: the CLI and code read the same file. Relative paths in
 * it are resolved from its folder; the host folders of local targets' mounts must exist.
 * Throws `ConfigNotFoundError` when there is none, `ConfigError` naming each bad key.
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<FerryConfig> {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const file = options.file === undefined ? findConfigFile(cwd) : path.resolve(cwd, options.file);
  if (file === undefined) {
    throw new ConfigNotFoundError(
      `no ${CONFIG_FILE_NAME} in ${cwd} or any folder above it; create one with \`ferry init\`, or pass --config <file>`,
    );
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConfigNotFoundError(`${file}: no such file`);
    throw new ConfigError(file, [
      { key: '', message: `cannot read it (${code ?? String(error)})` },
    ]);
  }
  const config = parseConfig(text, file);
  await checkLocalMounts(config);
  await checkAssets(config);
  return config;
}

/**
 * Checks that every glob of `assets` matches a file under the project root (and that what it
 * matches may travel), so a glob that matches nothing is a mistake named by its key when the config
 * is loaded, not a job that cannot find its data in the container.
 */
export async function checkAssets(config: FerryConfig): Promise<void> {
  if (config.assets === undefined || config.assets.length === 0) return;
  const projectRoot = config.projectRoot ?? (await findProjectRoot(config.sourceRoot));
  try {
    await collectAssets(projectRoot, config.assets);
  } catch (error) {
    if (!(error instanceof AssetError)) throw error;
    const key = error.globIndex === undefined ? 'assets' : `assets[${error.globIndex}]`;
    throw new ConfigError(config.file, [{ key, message: error.detail }]);
  }
}

/**
 * Checks that the host side of every mount of a local target exists here, so that a missing folder
 * is a mistake named by its key instead of Docker's "bind source path does not exist" at run time.
 * (A remote target's host paths are on the remote host.)
 */
export async function checkLocalMounts(config: FerryConfig): Promise<void> {
  const issues: ConfigIssue[] = [];
  for (const target of Object.values(config.targets)) {
    if (target.type !== 'local') continue;
    for (const [i, mount] of target.mounts.entries()) {
      const key = `targets.${target.name}.mounts[${i}]`;
      try {
        await stat(mount.hostPath);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
        issues.push({
          key,
          message: `the host folder ${mount.hostPath} does not exist (relative paths are resolved from ${config.root}); create it, or fix the path`,
        });
      }
    }
  }
  if (issues.length > 0) throw new ConfigError(config.file, issues);
}

/** Validates config text (JSON) as if read from `file`. */
export function parseConfig(text: string, file: string): FerryConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(file, [
      { key: '', message: `not valid JSON: ${describeJsonError(text, error as Error)}` },
    ]);
  }
  return validateConfig(raw, file);
}

function describeJsonError(text: string, error: Error): string {
  const position = /position (\d+)/.exec(error.message);
  if (position === null) return error.message;
  const offset = Number(position[1]);
  const before = text.slice(0, offset).split('\n');
  return `${error.message.replace(/ in JSON at position \d+.*$/, '')} at line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`;
}

/** The target with this name (default: the config's default target). */
/**
 * Whether a target's runs are memoized unless told otherwise: its `cache`, else `defaults.cache`.
 * Swarm targets take no `cache` (their results do not come home yet), so the default skips them.
 */
export function cacheDefaultOf(config: FerryConfig, target: TargetConfig): boolean | undefined {
  if (target.type === 'swarm') return undefined;
  return target.cache ?? config.defaults.cache;
}

export function getTarget(config: FerryConfig, name?: string): TargetConfig {
  const wanted = name ?? config.defaults.target;
  // Own keys only: a target named `toString` is unknown unless the config defines it.
  const target = Object.hasOwn(config.targets, wanted) ? config.targets[wanted] : undefined;
  if (target === undefined) {
    const names = Object.keys(config.targets);
    const hint = closest(wanted, names);
    throw new UnknownTargetError(
      `unknown target ${JSON.stringify(wanted)}${hint === undefined ? '' : ` (did you mean "${hint}"?)`}; the targets in ${config.file} are ${names.join(', ')}`,
    );
  }
  return target;
}

/**
 * Imports `job.module` and returns the job: the export itself when it is a job, else what calling
 * it (sync or async, no arguments) returns. The module is TypeScript or JavaScript (a TypeScript
 * module registers tsx's loader in this process first: see importModule.ts).
 *
 * The module and its factory run in the config's folder (the current directory is changed for
 * that time and restored after), so a factory that reads `data/labels.json` finds it whatever
 * folder `ferry` was started in, as the config's own relative paths are.
 */
export async function loadJob(config: FerryConfig): Promise<Job> {
  // The current directory is the process's, not this call's: loads run one at a time, or two at
  // once (two configs) would each restore the other's folder and leave the process in one.
  const previous = jobLoads;
  let done!: () => void;
  jobLoads = new Promise<void>((resolve) => (done = resolve));
  await previous;
  const cwd = process.cwd();
  try {
    // A job's own relative paths (a factory reading `data/labels.json`) can only be based on the
    // current directory: user code is not handed a base path. Ferry's own paths are all explicit.
    process.chdir(config.root);
    return await importJob(config);
  } finally {
    process.chdir(cwd);
    done();
  }
}

/** The job loads under way, in order (see `loadJob`). */
let jobLoads: Promise<void> = Promise.resolve();

async function importJob(config: FerryConfig): Promise<Job> {
  const { module, export: exportName } = config.job;
  const where = `job.module ${path.relative(config.root, module) || module}`;
  if (!existsSync(module)) {
    throw new ConfigError(config.file, [
      { key: 'job.module', message: `${module} does not exist` },
    ]);
  }
  let namespace: Record<string, unknown>;
  try {
    namespace = (await importProjectModule(module)) as Record<string, unknown>;
  } catch (error) {
    throw new JobLoadError(
      `${where}: importing it failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  if (!(exportName in namespace)) {
    const names = Object.keys(namespace).filter((n) => n !== '__esModule');
    throw new JobLoadError(
      `${where} has no export ${JSON.stringify(exportName)} (it exports: ${names.join(', ') || 'nothing'}); set job.export`,
    );
  }
  let value = namespace[exportName];
  if (
    typeof value === 'function' &&
    typeof (value as { prototype?: { run?: unknown } }).prototype?.run !== 'function'
  ) {
    try {
      value = await (value as () => unknown)();
    } catch (error) {
      if (error instanceof FerryError) throw error;
      throw new JobLoadError(
        `${where}: ${exportName}() threw: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
  } else if (typeof value === 'function') {
    throw new JobLoadError(
      `${where}: ${exportName} is a class; export an instance of it, or a function that creates one`,
    );
  }
  try {
    assertJob(value, `${where}#${exportName}`);
  } catch (error) {
    if (error instanceof InvalidJobError) throw new JobLoadError(error.message, { cause: error });
    throw error;
  }
  return value;
}
