/**
 * What the CLI checks of a target before it reaches it, so that a mistake in the config is named by
 * its key in the file (`targets.gpu-box.key`), not by the option the executors take
 * (`privateKeyPath`) once a connection or a build has already been tried.
 */
import { access, constants } from 'node:fs/promises';
import { ConfigError, type ConfigIssue } from '../config/errors.js';
import type { FerryConfig, TargetConfig } from '../config/schema.js';

/** The files a target reaches its host with: its `key` and `knownHosts`, when given. */
export async function checkTargetFiles(config: FerryConfig, target: TargetConfig): Promise<void> {
  const issues: ConfigIssue[] = [];
  const files: [string, string | undefined][] = [
    ['key', 'key' in target ? target.key : undefined],
    ['knownHosts', 'knownHosts' in target ? target.knownHosts : undefined],
  ];
  for (const [key, file] of files) {
    if (file === undefined) continue;
    const problem = await unreadable(file);
    if (problem === undefined) continue;
    issues.push({
      key: `targets.${target.name}.${key}`,
      message: `cannot read ${file} (${problem}; relative paths are resolved from ${config.root}); fix the path${key === 'key' ? ', or leave key out to use ssh-agent and ~/.ssh/id_*' : ', or leave knownHosts out to use ~/.ssh/known_hosts'}`,
    });
  }
  if (issues.length > 0) throw new ConfigError(config.file, issues);
}

/** The variables a target passes to its runs (`environment`) must be set when a run starts. */
export function checkTargetEnvironment(
  config: FerryConfig,
  target: TargetConfig,
  env: NodeJS.ProcessEnv,
): void {
  const names = 'environment' in target ? target.environment : [];
  const missing = names.filter((name) => !Object.hasOwn(env, name));
  if (missing.length === 0) return;
  throw new ConfigError(config.file, [
    {
      key: `targets.${target.name}.environment`,
      message: `${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} to be passed to the job but not set here; set ${missing.length === 1 ? 'it' : 'them'} before running (export ${missing[0]}=…), or remove ${missing.length === 1 ? 'it' : 'them'} from the list`,
    },
  ]);
}

async function unreadable(file: string): Promise<string | undefined> {
  try {
    await access(file, constants.R_OK);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'no such file';
    if (code === 'EACCES') return 'permission denied';
    throw error;
  }
}
