import { InputError, JobError } from '../errors.js';

/** A reference names a run that no record or target knows. */
export class UnknownUpstreamRunError extends InputError {}

/** The run a reference names failed, was stopped, or its result is gone (removed, never kept). */
export class UpstreamRunFailedError extends JobError {}

/** References that lead back to themselves: a run or a step that needs its own result. */
export class ReferenceCycleError extends InputError {}

/** A reference is malformed, or its value cannot go where it was put (a parameter needs JSON). */
export class InvalidReferenceError extends InputError {}

/** A pipeline names a step it does not have, or two steps share a name. */
export class PipelineDefinitionError extends InputError {}

/** No run of a sweep logged the metric asked for. */
export class NoBestRunError extends InputError {}
