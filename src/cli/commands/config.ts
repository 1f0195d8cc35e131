import type { FerryConfig, TargetConfig } from '../../config/schema.js';
import { stringOption, type Command } from '../command.js';
import { EXIT } from '../exitCodes.js';

export const configCommand: Command = {
  name: 'config',
  summary: 'print the resolved config as JSON: defaults filled in, paths absolute, secrets by name',
  usage: 'ferry config [--target <name>]',
  description: `
Prints what Ferry will use: the config file after its defaults are filled in (the built-in
attached and local targets included), ~ and relative paths resolved from the config's folder, each
target's type decided. The keys are the config file's own, so the output is itself a valid
ferry.config.json. Secrets appear as where they come from, never as values: registryAuth shows the
name of the variable in passwordEnv, environment lists variable names. With --target, only that
target.`,
  options: {
    target: {
      type: 'string',
      short: 't',
      value: 'name',
      description: 'print only this target (attached, local, or a target of the config)',
    },
  },
  examples: [
    'ferry config',
    'ferry config --target gpu-box',
    'ferry config -c other/ferry.config.json',
  ],
  async run(context, args) {
    const config = await context.config();
    const name = stringOption(args, 'target');
    context.note(`ferry: ${config.file} (relative paths resolved from ${config.root})`);
    const shown =
      name === undefined ? configAsFile(config) : targetAsFile(await context.target(name));
    context.out(JSON.stringify(shown, null, 2));
    return EXIT.ok;
  },
};

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
    if (key === 'mounts') {
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
