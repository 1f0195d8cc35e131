/**
 * Class lookups over a source root for values serialized in the caller's own process (attached
 * runs' results). Kept apart from resultDocument.ts: it needs esbuild, which the container runtime
 * must not carry.
 */
import { bundleSourceModules } from './bundle.js';
import { ExportedClasses } from './classRegistry.js';
import type { ClassFinder } from './serializeResource.js';
import { listSourceModules } from './sourceModules.js';

/**
 * The classes of a source root (attached runs): its modules are listed and bundled once, on the
 * first class that needs finding, to learn what each exports; the modules themselves are imported
 * from the source, so identities are the caller's own classes.
 */
export function sourceClassFinder(sourceRoot: string, exclude: readonly string[]): ClassFinder {
  let classes: Promise<ExportedClasses> | undefined;
  const load = (): Promise<ExportedClasses> =>
    (classes ??= (async () => {
      const modules = await listSourceModules(sourceRoot, exclude);
      const bundle = await bundleSourceModules(sourceRoot, modules);
      return new ExportedClasses(sourceRoot, bundle.exportsByModule);
    })());
  let loaded: ExportedClasses | undefined;
  return {
    identify: (constructor) => loaded?.identify(constructor),
    importExporting: async (names) => {
      loaded = await load();
      await loaded.importExporting(names);
    },
    importAll: async () => {
      loaded = await load();
      await loaded.importAll();
    },
  };
}
