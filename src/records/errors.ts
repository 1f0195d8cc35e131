import { EnvironmentError, InputError } from '../errors.js';

/** A record file that is not a run record (truncated, hand-edited, or from another version). */
export class RecordStoreError extends EnvironmentError {}

/** Two or more runs match a shortened id. */
export class AmbiguousRunIdError extends InputError {}
