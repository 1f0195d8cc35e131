import { serialize } from './serialization/index.js';
import type { ClassIdentifier, SerializedPayload } from './serialization/types.js';

type Constructor = Parameters<ClassIdentifier>[0];

/**
 * Finds where classes are exported, importing modules only when asked: a package's source at
 * packaging time (`ExportedClasses`), an installed package's bundle or the caller's source when a
 * run's result is serialized.
 */
export interface ClassFinder {
  readonly identify: ClassIdentifier;
  /** Imports the modules that export any of these names. */
  importExporting(names: readonly string[]): Promise<void>;
  /** Imports every module that exports anything. */
  importAll(): Promise<void>;
}

/** Marks a class-table entry whose module is not known yet; no module path can look like this. */
const PENDING_MODULE = '\0pending';

/**
 * Serializes one value (a package's payload object, a run's result), importing only the modules its
 * classes can come from. A
 * first pass notes the classes not identified yet; the modules exporting their names are imported
 * and the class table is filled in. A class none of them exports under its own name sends the
 * search through every module; one still unknown after that is reported by a second pass, which
 * names its path in the object graph.
 */
export async function serializeResource(
  value: unknown,
  rootName: string,
  classes: ClassFinder,
): Promise<SerializedPayload> {
  const pending: Constructor[] = [];
  const first = serialize(value, {
    rootName,
    identifyClass: (constructor) =>
      classes.identify(constructor) ?? {
        module: PENDING_MODULE,
        exportName: String(pending.push(constructor) - 1),
      },
  });
  if (pending.length === 0) return first;
  const unknown = (): boolean => pending.some((c) => classes.identify(c) === undefined);
  await classes.importExporting(pending.map((c) => c.name));
  if (unknown()) await classes.importAll();
  if (unknown()) return serialize(value, { rootName, identifyClass: classes.identify });
  const references = first.document.classes.map((reference) => {
    if (reference.module !== PENDING_MODULE) return reference;
    const constructor = pending[Number(reference.exportName)];
    return constructor === undefined ? reference : (classes.identify(constructor) ?? reference);
  });
  return { document: { ...first.document, classes: references }, blobs: first.blobs };
}
