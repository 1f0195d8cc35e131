/**
 * Which targets to ask for a run the records do not hold. Kept apart from `targets.ts`, which loads
 * the executors (and dockerode, ssh2): commands that only look at records stay quick to start.
 */
import type { FerryConfig, TargetConfig } from './schema.js';

/**
 * The targets searched when the user names none: the local engines, which answer at once (a
 * remote target costs an SSH connection: only when named).
 */
export function targetsSearchedByDefault(config: FerryConfig): TargetConfig[] {
  return Object.values(config.targets).filter((t) => t.type === 'local');
}

/** The targets that reach another host (named in messages about where else to look). */
export function remoteTargets(config: FerryConfig): TargetConfig[] {
  return Object.values(config.targets).filter((t) => t.type === 'remote');
}
