import { InputError } from '../../errors.js';
import type { ClassReference } from './types.js';

/** Stable codes for the kinds of values a payload refuses, so callers can branch without parsing messages. */
export type NotSerializableCode =
  | 'function'
  | 'class-value'
  | 'symbol'
  | 'symbol-key'
  | 'accessor'
  | 'weak-collection'
  | 'weak-ref'
  | 'promise'
  | 'live-handle'
  | 'proxy'
  | 'error-object'
  | 'shared-memory'
  | 'unexported-class'
  | 'foreign-prototype'
  | 'unsupported-object'
  | 'hook-missing-deserialize'
  | 'hook-failed'
  | 'hook-cycle'
  | 'private-state'
  | 'too-deep';

/**
 * A value in the job's object graph cannot be delivered. The message always starts with the path of the
 * value inside the graph (`job.featurizers[2].rowSelector`) and ends with what to do about it.
 */
export class NotSerializableError extends InputError {
  /** Where the value sits in the object graph, starting with the root name, e.g. `job.source.reader`. */
  readonly path: string;
  /** Why the value cannot be delivered and what to do instead (the message without the path). */
  readonly reason: string;
  /** Machine-readable kind of the refusal. */
  readonly code: NotSerializableCode;

  constructor(
    path: string,
    code: NotSerializableCode,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${reason}`, options);
    this.path = path;
    this.reason = reason;
    this.code = code;
  }
}

/** A serialized document (or its side-car bytes) is malformed, truncated, tampered with, or of an unknown format. */
export class PayloadFormatError extends InputError {
  /** Where in the document the problem is, e.g. `nodes[4].props[0]`, when known. */
  readonly location: string | undefined;

  constructor(message: string, location?: string, options?: { cause?: unknown }) {
    super(location === undefined ? message : `${location}: ${message}`, options);
    this.location = location;
  }
}

/** `resolveClass` could not provide a class named in the document's class table; its error is the `cause`. */
export class UnknownClassError extends InputError {
  readonly reference: ClassReference;

  constructor(reference: ClassReference, detail: string, options?: { cause?: unknown }) {
    super(`class ${reference.module}#${reference.exportName}: ${detail}`, options);
    this.reference = reference;
  }
}
