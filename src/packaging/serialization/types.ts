/** Where a class is exported: `<module path relative to the source root>#<export name>` (docs/design.md §1). */
export interface ClassReference {
  /** POSIX path of the module relative to the source root, with its source extension, e.g. `jobs/titanic.ts`. */
  readonly module: string;
  /** The name the module exports the class under. */
  readonly exportName: string;
}

/** Finds where a constructor is exported, or `undefined` when it is not exported from the source root. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- a class of any constructor signature
export type ClassIdentifier = (constructor: Function) => ClassReference | undefined;

/** Returns the constructor a reference names; throws when the package does not define it. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- a class of any constructor signature
export type ClassResolver = (reference: ClassReference) => Function;

/** A serialized object graph: a JSON-safe document plus the side-car bytes of its binary values. */
export interface SerializedPayload {
  readonly document: SerializedDocument;
  readonly blobs: Buffer;
}

/** JSON-safe description of an object graph; its inner shape is private to the serializer. */
export interface SerializedDocument {
  readonly format: 'ferry-graph';
  readonly version: number;
  readonly classes: readonly ClassReference[];
  readonly [key: string]: unknown;
}
