import { EnvironmentError, InputError, JobError } from '../../errors.js';

/** The engine a swarm target names is not a swarm manager. */
export class NotASwarmManagerError extends EnvironmentError {}

/** A node could not get a run's image (pull failed, no such image there). */
export class SwarmImageUnavailableError extends EnvironmentError {}

/** A run's task did not reach `running` in time (no node fits, or a pull that hangs). */
export class SwarmTaskStartTimeoutError extends JobError {}

/** The swarm refused or lost a run's task for another reason than its image. */
export class SwarmTaskError extends JobError {}

/** A swarm target's settings do not hold (an option the swarm cannot apply). */
export class InvalidSwarmOptionsError extends InputError {}

/** A run asks for GPUs (generic resources) that no node of the swarm advertises. */
export class SwarmGpuUnavailableError extends EnvironmentError {}
