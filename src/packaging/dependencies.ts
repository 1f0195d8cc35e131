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

interface Lockfile {
  packages?: Record<string, { version?: string }>;
}

/** Records the range and resolved version of every npm package the bundle imports. */
export async function resolveExternalDependencies(
  externalImports: readonly string[],
  sourceRoot: string,
  projectRoot: string | undefined,
): Promise<ExternalDependencies> {
  const names = [
    ...new Set(externalImports.map(packageNameOf).filter((n) => n !== undefined)),
  ].sort();
  if (names.length === 0) return {};
  const project = await readProjectFiles(projectRoot ?? (await findProjectRoot(sourceRoot)));
  const resolved: Record<string, ExternalDependency> = {};
  for (const name of names) {
    resolved[name] = await resolveOne(name, project);
  }
  return resolved;
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
    project.lockfile?.packages?.[`node_modules/${name}`]?.version ??
    (await installedVersion(project.projectRoot, name));
  if (version === undefined) {
    throw new DependencyResolutionError(
      `the source imports '${name}' (${range}), which is neither in the lockfile nor installed under ${project.projectRoot}; run 'npm install' there`,
    );
  }
  return { range, version };
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
