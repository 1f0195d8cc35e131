import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ClassRegistryError } from './errors.js';
import type { ClassIdentifier, ClassReference, ClassResolver } from './serialization/types.js';

/** A module's namespace object, as `import()` gives it. */
type ModuleNamespace = Readonly<Record<string, unknown>>;

/**
 * The classes the source root exports, by identity (docs/design.md §1), imported on demand: only modules
 * that export a name asked for, or (`importAll`) every module with exports. Modules that export
 * nothing (scripts) are never imported, so identifying classes does not run them. When one class is
 * exported from several modules (an index re-exporting it), the first module in path order names it.
 */
export class ExportedClasses {
  private readonly identities = new Map<unknown, ClassReference>();
  private readonly imported = new Set<string>();

  constructor(
    private readonly sourceRoot: string,
    private readonly exportsByModule: ReadonlyMap<string, readonly string[]>,
  ) {}

  /** Where a constructor is exported, among the modules imported so far. */
  readonly identify: ClassIdentifier = (constructor) => this.identities.get(constructor);

  /** Imports the modules that export any of these names. */
  async importExporting(names: Iterable<string>): Promise<void> {
    const wanted = new Set(names);
    await this.importWhere((exportNames) => exportNames.some((name) => wanted.has(name)));
  }

  /** Imports every module that exports anything. */
  async importAll(): Promise<void> {
    await this.importWhere((exportNames) => exportNames.length > 0);
  }

  private async importWhere(select: (exportNames: readonly string[]) => boolean): Promise<void> {
    const modules = [...this.exportsByModule].sort(([a], [b]) => (a < b ? -1 : 1));
    for (const [modulePath, exportNames] of modules) {
      if (this.imported.has(modulePath) || !select(exportNames)) continue;
      this.imported.add(modulePath);
      const namespace = await importModule(path.join(this.sourceRoot, modulePath), modulePath);
      for (const exportName of [...exportNames].sort()) {
        const value = namespace[exportName];
        if (typeof value !== 'function') continue;
        const known = this.identities.get(value);
        if (
          known === undefined ||
          referenceKey(modulePath, exportName) < referenceKey(known.module, known.exportName)
        ) {
          this.identities.set(value, { module: modulePath, exportName });
        }
      }
    }
  }
}

function referenceKey(module: string, exportName: string): string {
  return `${module}#${exportName}`;
}

/**
 * Resolves class references against the modules of one source tree (a package's bundle or the
 * caller's source). `moduleFileOf` says where a reference's module is, or undefined when the
 * package does not list the module as exporting that name; every reference is checked so before
 * any module is imported, and only referenced modules are imported.
 */
export async function resolveClassesFrom(
  references: unknown,
  moduleFileOf: (reference: ClassReference) => string | undefined,
): Promise<ClassResolver> {
  if (!Array.isArray(references)) {
    throw new ClassRegistryError(
      "the payload's class table is not a list; the resource is damaged",
    );
  }
  const files = new Map<string, string>();
  for (const reference of references as unknown[]) {
    const { module, exportName } = (reference ?? {}) as Partial<Record<string, unknown>>;
    if (typeof module !== 'string' || typeof exportName !== 'string') {
      throw new ClassRegistryError(
        "the payload's class table holds an entry without a string module and export name; the resource is damaged",
      );
    }
    const file = moduleFileOf({ module, exportName });
    if (file === undefined) {
      throw new ClassRegistryError(
        `the payload names class ${JSON.stringify(`${module.slice(0, 200)}#${exportName.slice(0, 100)}`)}, which the package's source does not export; refused before importing anything`,
      );
    }
    files.set(module, file);
  }
  const namespaces = new Map<string, ModuleNamespace>();
  for (const [module, file] of files) {
    namespaces.set(module, await importModule(file, module));
  }
  return (reference) => {
    const namespace = namespaces.get(reference.module);
    const value =
      namespace !== undefined &&
      Object.prototype.hasOwnProperty.call(namespace, reference.exportName)
        ? namespace[reference.exportName]
        : undefined;
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
    const hint =
      (error as NodeJS.ErrnoException).code === 'ERR_UNKNOWN_FILE_EXTENSION'
        ? '; TypeScript sources need a TypeScript-aware runtime such as tsx or vitest'
        : '';
    throw new ClassRegistryError(
      `could not import ${modulePath} (${file}): ${error instanceof Error ? error.message : String(error)}${hint}`,
      { cause: error },
    );
  }
}
