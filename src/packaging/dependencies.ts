import { readFile, access } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { DependencyResolutionError } from './errors.js';

/** An npm package the bundle leaves external, as the project declares and locks it. */
export interface ExternalDependency {
  /** The range in the project's package.json, e.g. `^4.17.21`. */
  readonly range: string;
  /** The exact version the lockfile (or the installed package) resolves it to. */
  readonly version: string;
}

export type ExternalDependencies = Readonly<Record<string, ExternalDependency>>;

/** A package-lock.json (v2/v3) entry, as much of it as npm needs to install it again exactly. */
export interface LockedPackage {
  readonly version: string;
  readonly resolved?: string;
  readonly integrity?: string;
  readonly license?: string;
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly optionalDependencies?: Readonly<Record<string, string>>;
  readonly peerDependencies?: Readonly<Record<string, string>>;
  readonly peerDependenciesMeta?: Readonly<Record<string, { readonly optional?: boolean }>>;
  readonly bin?: unknown;
  readonly engines?: unknown;
  readonly os?: readonly string[];
  readonly cpu?: readonly string[];
  readonly optional?: boolean;
  readonly hasInstallScript?: boolean;
}

/** The lockfile entries (by lockfile path, e.g. `node_modules/a/node_modules/b`) the bundle needs. */
export type LockedPackages = Readonly<Record<string, LockedPackage>>;

export interface ResolvedDependencies {
  readonly dependencies: ExternalDependencies;
  /** Every package the external dependencies need, transitively, as the project's lockfile pins it. */
  readonly locked: LockedPackages;
}

/** Lockfile fields copied into a package's manifest; flags such as `dev` describe the user's tree, not ours. */
const LOCKED_FIELDS = [
  'version',
  'resolved',
  'integrity',
  'license',
  'dependencies',
  'optionalDependencies',
  'peerDependencies',
  'peerDependenciesMeta',
  'bin',
  'engines',
  'os',
  'cpu',
  'optional',
  'hasInstallScript',
] as const;

/** `lodash/fp` → `lodash`, `@scope/pkg/sub` → `@scope/pkg`; builtins → undefined. */
export function packageNameOf(specifier: string): string | undefined {
  if (isBuiltin(specifier)) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

interface ProjectFiles {
  readonly projectRoot: string;
  readonly packageJson: PackageJson;
  readonly lockfile: Lockfile | undefined;
}

interface PackageJson {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

/** One `packages` entry of a package-lock.json, as read: any JSON. */
export type LockEntry = { readonly [field: string]: unknown };

interface Lockfile {
  packages?: Record<string, LockEntry>;
}

/**
 * Records the range and resolved version of every npm package the bundle imports, and the lockfile
 * entries of everything they need in turn, so the container installs exactly what the project runs.
 */
export async function resolveExternalDependencies(
  externalImports: readonly string[],
  sourceRoot: string,
  projectRoot: string | undefined,
): Promise<ResolvedDependencies> {
  const names = [
    ...new Set(externalImports.map(packageNameOf).filter((n) => n !== undefined)),
  ].sort();
  if (names.length === 0) return { dependencies: {}, locked: {} };
  const project = await readProjectFiles(projectRoot ?? (await findProjectRoot(sourceRoot)));
  const dependencies: Record<string, ExternalDependency> = {};
  for (const name of names) {
    dependencies[name] = await resolveOne(name, project);
  }
  const packages = project.lockfile?.packages;
  return { dependencies, locked: packages === undefined ? {} : lockClosure(packages, names) };
}

/**
 * The lockfile entries reachable from `roots`, following dependencies, optional dependencies and
 * required peers the way Node resolves them (nearest `node_modules` first). Keys are sorted.
 */
export function lockClosure(
  packages: Readonly<Record<string, LockEntry>>,
  roots: readonly string[],
): LockedPackages {
  const found = new Map<string, LockedPackage>();
  const queue: Array<{ from: string; name: string; optional: boolean }> = roots.map((name) => ({
    from: '',
    name,
    optional: false,
  }));
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const key = lockPathOf(packages, next.from, next.name);
    if (key === undefined) {
      // npm leaves out optional packages for other platforms; anything else missing is a broken lockfile.
      if (next.optional) continue;
      throw new DependencyResolutionError(
        `the lockfile has no entry for '${next.name}' (needed by ${next.from || 'the job'}); run 'npm install' to repair package-lock.json`,
      );
    }
    if (found.has(key)) continue;
    const entry = packages[key] ?? {};
    if (entry.link === true || typeof entry.version !== 'string') {
      throw new DependencyResolutionError(
        `'${next.name}' is a linked or workspace package (${key}); Ferry delivers npm packages from the registry only`,
      );
    }
    found.set(key, pickLockedFields(entry));
    const required = Object.keys((entry.dependencies as Record<string, string>) ?? {});
    const optional = Object.keys((entry.optionalDependencies as Record<string, string>) ?? {});
    const peerMeta = (entry.peerDependenciesMeta ?? {}) as Record<string, { optional?: boolean }>;
    const peers = Object.keys((entry.peerDependencies as Record<string, string>) ?? {});
    for (const name of required) queue.push({ from: key, name, optional: false });
    for (const name of optional) queue.push({ from: key, name, optional: true });
    for (const name of peers) {
      queue.push({ from: key, name, optional: peerMeta[name]?.optional === true });
    }
  }
  return Object.fromEntries([...found].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Where Node would find `name` from the package at lockfile path `from` (`''`: the project). */
function lockPathOf(
  packages: Readonly<Record<string, LockEntry>>,
  from: string,
  name: string,
): string | undefined {
  let base = from;
  for (;;) {
    const candidate = base === '' ? `node_modules/${name}` : `${base}/node_modules/${name}`;
    if (packages[candidate] !== undefined) return candidate;
    if (base === '') return undefined;
    const cut = base.lastIndexOf('/node_modules/');
    base = cut === -1 ? '' : base.slice(0, cut);
  }
}

function pickLockedFields(entry: LockEntry): LockedPackage {
  const picked: Record<string, unknown> = {};
  for (const field of LOCKED_FIELDS) {
    if (entry[field] !== undefined) picked[field] = entry[field];
  }
  return picked as unknown as LockedPackage;
}

async function resolveOne(name: string, project: ProjectFiles): Promise<ExternalDependency> {
  const { packageJson } = project;
  const range =
    packageJson.dependencies?.[name] ??
    packageJson.optionalDependencies?.[name] ??
    packageJson.peerDependencies?.[name] ??
    packageJson.devDependencies?.[name];
  if (range === undefined) {
    throw new DependencyResolutionError(
      `the source imports '${name}', which ${path.join(project.projectRoot, 'package.json')} does not declare; run 'npm install ${name}' in the project`,
    );
  }
  const version =
    lockedVersion(project.lockfile, name) ?? (await installedVersion(project.projectRoot, name));
  if (version === undefined) {
    throw new DependencyResolutionError(
      `the source imports '${name}' (${range}), which is neither in the lockfile nor installed under ${project.projectRoot}; run 'npm install' there`,
    );
  }
  return { range, version };
}

function lockedVersion(lockfile: Lockfile | undefined, name: string): string | undefined {
  const version = lockfile?.packages?.[`node_modules/${name}`]?.version;
  return typeof version === 'string' ? version : undefined;
}

async function installedVersion(projectRoot: string, name: string): Promise<string | undefined> {
  const manifestPath = path.join(projectRoot, 'node_modules', name, 'package.json');
  if (!(await exists(manifestPath))) return undefined;
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { version?: string };
  return manifest.version;
}

async function readProjectFiles(projectRoot: string): Promise<ProjectFiles> {
  const packageJson = JSON.parse(
    await readFile(path.join(projectRoot, 'package.json'), 'utf8'),
  ) as PackageJson;
  const lockPath = path.join(projectRoot, 'package-lock.json');
  const lockfile = (await exists(lockPath))
    ? (JSON.parse(await readFile(lockPath, 'utf8')) as Lockfile)
    : undefined;
  return { projectRoot, packageJson, lockfile };
}

/** The nearest folder at or above `from` holding a package.json. */
export async function findProjectRoot(from: string): Promise<string> {
  let dir = path.resolve(from);
  for (;;) {
    if (await exists(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new DependencyResolutionError(
        `no package.json at or above ${from}, so the versions of the npm packages the source imports are unknown; set PackagingTask.projectRoot`,
      );
    }
    dir = parent;
  }
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    },
  );
}
