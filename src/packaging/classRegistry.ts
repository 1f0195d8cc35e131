import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ClassRegistryError } from './errors.js';
import type { ClassIdentifier, ClassReference, ClassResolver } from './serialization/types.js';

/** A module's namespace object, as `import()` gives it. */
type ModuleNamespace = Readonly<Record<string, unknown>>;

/**
 * Maps the classes the source root exports to their identities (DESIGN 1). Modules that export
 * nothing (scripts) are never imported, so building the registry does not run them.
 */
export async function identifyExportedClasses(
  sourceRoot: string,
  exportsByModule: ReadonlyMap<string, readonly string[]>,
): Promise<ClassIdentifier> {
  const identities = new Map<unknown, ClassReference>();
  for (const [modulePath, exportNames] of [...exportsByModule].sort(([a], [b]) =>
    a < b ? -1 : 1,
  )) {
    if (exportNames.length === 0) continue;
    const namespace = await importModule(path.join(sourceRoot, modulePath), modulePath);
    for (const exportName of [...exportNames].sort()) {
      const value = namespace[exportName];
      // A class re-exported by an index module keeps the identity of the first module in path order.
      if (typeof value === 'function' && !identities.has(value)) {
        identities.set(value, { module: modulePath, exportName });
      }
    }
  }
  return (constructor) => identities.get(constructor);
}

/**
 * Resolves class references against the modules of one source tree (a package's bundle or the
 * caller's source), importing only modules the package lists and only the ones referenced.
 */
export async function resolveClassesFrom(
  references: readonly ClassReference[],
  moduleFileOf: (modulePath: string) => string | undefined,
): Promise<ClassResolver> {
  const namespaces = new Map<string, ModuleNamespace>();
  for (const { module } of references) {
    if (namespaces.has(module)) continue;
    const file = moduleFileOf(module);
    if (file === undefined) {
      throw new ClassRegistryError(
        `the payload names module '${module}', which is not part of the package's source`,
      );
    }
    namespaces.set(module, await importModule(file, module));
  }
  return (reference) => {
    const value = namespaces.get(reference.module)?.[reference.exportName];
    if (typeof value !== 'function') {
      throw new ClassRegistryError(
        `${reference.module}#${reference.exportName} is not a class exported by the package's source`,
      );
    }
    return value;
  };
}

async function importModule(file: string, modulePath: string): Promise<ModuleNamespace> {
  try {
    return (await import(pathToFileURL(file).href)) as ModuleNamespace;
  } catch (error) {
    const hint = /\.(ts|tsx|mts)$/.test(file)
      ? '; TypeScript sources need a TypeScript-aware runtime such as tsx or vitest'
      : '';
    throw new ClassRegistryError(
      `could not import ${modulePath} (${file}): ${error instanceof Error ? error.message : String(error)}${hint}`,
      { cause: error },
    );
  }
}
