/**
 * A value serialized outside a package (what a run's `run()` returned) and read back: the class
 * lookups for serializing it where the job ran (from the installed package's bundle, or from the
 * caller's source for attached runs), and deserializing it bound to a source root or to a package.
 * Same serializer and class identities as packages (DESIGN 1, 4, 11).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { resolveClassesFrom } from './classRegistry.js';
import { ClassRegistryError } from './errors.js';
import type { PackageManifest } from './manifest.js';
import { deserialize } from './serialization/index.js';
import type { ClassFinder } from './serializeResource.js';
import type { ClassReference, SerializedDocument } from './serialization/types.js';

/**
 * The classes of an installed package's bundle, by their source identity. Export names are the
 * manifest's (checked when the package was installed), so a module is only imported when it exports
 * a name asked for: scripts that export nothing never run.
 */
export function packageClassFinder(dir: string, manifest: PackageManifest): ClassFinder {
  const identities = new Map<unknown, ClassReference>();
  const imported = new Set<string>();
  const importWhere = async (select: (names: readonly string[]) => boolean): Promise<void> => {
    const modules = Object.entries(manifest.exports).sort(([a], [b]) => (a < b ? -1 : 1));
    for (const [modulePath, names] of modules) {
      if (imported.has(modulePath) || !select(names)) continue;
      imported.add(modulePath);
      const file = path.join(dir, manifest.modules[modulePath]!);
      const namespace = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
      for (const exportName of [...names].sort()) {
        const value = namespace[exportName];
        if (typeof value === 'function' && !identities.has(value)) {
          identities.set(value, { module: modulePath, exportName });
        }
      }
    }
  };
  return {
    identify: (constructor) => identities.get(constructor),
    importExporting: (names) => importWhere((exported) => exported.some((n) => names.includes(n))),
    importAll: () => importWhere((exported) => exported.length > 0),
  };
}

/** The names an esbuild ESM output exports (`export { a, b as c };`, possibly several clauses). */
export function exportNamesOf(code: string): string[] {
  const names: string[] = [];
  for (const clause of code.matchAll(/^export\s*\{([^}]*)\};?\s*$/gm)) {
    for (const item of clause[1]!.split(',')) {
      const parts = item.trim().split(/\s+as\s+/);
      const name = parts[parts.length - 1]?.trim();
      if (name !== undefined && /^[A-Za-z_$][\w$]*$/.test(name)) names.push(name);
    }
  }
  return names;
}

/** Where a result's classes come from when it is read back. */
export type ResultBinding =
  /** The caller's current source (the default: what `rebindTo` does for resources). */
  | { readonly sourceRoot: string }
  /** An installed package's bundle (its own namespace). */
  | { readonly packageDir: string; readonly manifest: PackageManifest };

/**
 * Rebuilds a serialized value. Module paths in its class table are untrusted: with a source root
 * they must be plain relative paths that stay inside it; with a package, modules it lists.
 */
export async function deserializeValue(
  payload: { readonly document: unknown; readonly blobs: Buffer },
  binding: ResultBinding,
): Promise<unknown> {
  const document = payload.document as SerializedDocument;
  const references = Array.isArray(document?.classes) ? document.classes : [];
  await refuseUnexported(references, binding);
  const resolveClass = await resolveClassesFrom(references, (reference) =>
    moduleFile(binding, reference.module),
  );
  return deserialize({ document, blobs: payload.blobs }, { resolveClass });
}

/**
 * Refuses, before anything is imported, a reference to a name its module does not export (as read
 * from the module's text): a crafted result must not make a script's top level run.
 */
async function refuseUnexported(
  references: readonly ClassReference[],
  binding: ResultBinding,
): Promise<void> {
  const texts = new Map<string, string>();
  for (const reference of references) {
    if (
      typeof reference?.exportName !== 'string' ||
      !/^[A-Za-z_$][\w$]*$/.test(reference.exportName)
    ) {
      throw new ClassRegistryError(
        `the result names a class export that is not a name: ${JSON.stringify(reference?.exportName)}`,
      );
    }
    if ('manifest' in binding) {
      if (!(
        Object.hasOwn(binding.manifest.exports, reference.module) &&
        binding.manifest.exports[reference.module]!.includes(reference.exportName)
      )) {
        throw new ClassRegistryError(
          `${reference.module}#${reference.exportName}: the package's manifest lists no such export; refused before importing anything`,
        );
      }
      continue;
    }
    const file = moduleFile(binding, reference.module);
    if (file === undefined) continue;
    let text = texts.get(file);
    if (text === undefined) {
      text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
        throw new ClassRegistryError(
          `the result names module ${JSON.stringify(reference.module)}, which is not in ${binding.sourceRoot} (moved or renamed since the run?)`,
          { cause: error },
        );
      });
      texts.set(file, text);
    }
    if (!exportsName(text, reference.exportName)) {
      throw new ClassRegistryError(
        `${reference.module}#${reference.exportName}: the module does not export ${reference.exportName} in the current source; bind the result to the run's own package instead`,
      );
    }
  }
}

/** Whether a source module's text exports `name` (its declarations, or an export clause). */
function exportsName(code: string, name: string): boolean {
  if (exportNamesOf(code).includes(name)) return true;
  const declared = new RegExp(
    `export\\s+(?:default\\s+)?(?:declare\\s+)?(?:abstract\\s+)?(?:class|function|const|let|var)\\s+${name.replace(/\$/g, '\\$')}\\b`,
  );
  const listed = new RegExp(
    `export\\s*(?:type\\s*)?\\{[^}]*\\b${name.replace(/\$/g, '\\$')}\\b[^}]*\\}`,
  );
  // `export * from` re-exports names the text does not spell out: allowed, as the bundler saw them.
  return declared.test(code) || listed.test(code) || /export\s*\*\s*from/.test(code);
}

function moduleFile(binding: ResultBinding, modulePath: unknown): string | undefined {
  if (typeof modulePath !== 'string') return undefined;
  if ('manifest' in binding) {
    if (!Object.hasOwn(binding.manifest.modules, modulePath)) return undefined;
    return path.join(binding.packageDir, binding.manifest.modules[modulePath]!);
  }
  const root = path.resolve(binding.sourceRoot);
  const file = path.resolve(root, modulePath);
  if (
    path.posix.normalize(modulePath) !== modulePath ||
    modulePath.startsWith('/') ||
    modulePath.split('/').includes('..') ||
    !file.startsWith(`${root}${path.sep}`)
  ) {
    throw new ClassRegistryError(
      `the result names module ${JSON.stringify(modulePath)}, which is not a path inside ${root}`,
    );
  }
  return file;
}
