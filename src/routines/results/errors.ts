import { InputError, JobError } from '../../errors.js';

/** A run has no result to give: it failed, was stopped, is still running, or its result is gone. */
export class ResultNotAvailableError extends JobError {}

/** The job returned a value that cannot be serialized; the run's log names its path. */
export class ResultNotSerializableError extends ResultNotAvailableError {}

/** A run has no outputs folder to download (it never ran, or its container is gone unsaved). */
export class OutputsNotAvailableError extends JobError {}

/** `logMetric` was given a name, value or step it cannot store. */
export class InvalidMetricError extends InputError {}

/** A download's destination already exists: Ferry does not merge into or replace a folder. */
export class DownloadDestinationExistsError extends InputError {}

/** A run's outputs were never downloaded, and removing it was not told whether to keep them. */
export class OutputsNotKeptError extends InputError {}

/** The run failed or was stopped, so it has no result. */
export class RunFailedError extends ResultNotAvailableError {}
