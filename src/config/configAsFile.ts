/** A resolved config written back in the config file's own keys (what `ferry config` prints). */
import type { FerryConfig, TargetConfig } from './schema.js';

/**
 * A resolved config in the file's own keys (`mounts[].host`, `hostKeyFingerprint`), so what
 * `ferry config` prints is a valid config file, with every value Ferry will use spelled out.
 */
export function configAsFile(config: FerryConfig): Record<string, unknown> {
  return {
    project: config.project,
    version: config.version,
    job: { module: config.job.module, export: config.job.export },
    sourceRoot: config.sourceRoot,
    ...(config.projectRoot === undefined ? {} : { projectRoot: config.projectRoot }),
    ...(config.exclude === undefined ? {} : { exclude: config.exclude }),
    ...(config.assets === undefined ? {} : { assets: config.assets }),
    workDir: config.workDir,
    defaults: config.defaults,
    targets: Object.fromEntries(
      Object.entries(config.targets).map(([name, target]) => [name, targetAsFile(target)]),
    ),
  };
}

/** One target in the file's keys; its name is the key it is under. */
export function targetAsFile(target: TargetConfig): Record<string, unknown> {
  if (target.type === 'attached') return { type: target.type, viaPackage: target.viaPackage };
  const shown: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(target)) {
    if (key === 'name') continue;
    if (key === 'mounts' && target.type !== 'swarm') {
      shown.mounts = target.mounts.map((mount) => ({
        host: mount.hostPath,
        container: mount.containerPath,
        readOnly: mount.readOnly ?? false,
      }));
    } else if (key === 'hostKeyFingerprints') {
      shown.hostKeyFingerprint = value;
    } else {
      shown[key] = value;
    }
  }
  return shown;
}
