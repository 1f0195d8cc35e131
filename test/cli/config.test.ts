/**
 * Config and parameter mistakes as a user meets them: `bin/ferry.mjs` in a project folder, asserting
 * the key the message names and the fix it suggests. No Docker: every case fails (or prints)
 * before a target is reached.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { editConfig, ferry } from './support.js';

const FINGERPRINT = `SHA256:${'a'.repeat(43)}`;

describe('ferry config, and config and parameter mistakes', () => {
  let dir: string;
  let file: string;
  const base = {
    $schema: './node_modules/ferry/schema/ferry.config.schema.json',
    project: 'demo',
    version: '1.0.0',
    job: 'src/job.ts#createJob',
    sourceRoot: 'src',
    targets: {
      local: { mounts: ['data:/data:ro'], environment: ['WANDB_API_KEY'] },
      'gpu-box': {
        host: 'gpu.example.com',
        user: 'me',
        key: 'keys/id_ed25519',
        knownHosts: '~/.ssh/known_hosts',
        hostKeyFingerprint: FINGERPRINT,
        repository: '127.0.0.1:5000/team',
        registryAuth: { username: 'me', passwordEnv: 'REG_PW' },
        mounts: ['/scratch:/scratch'],
      },
    },
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-cli-config-'));
    file = path.join(dir, 'ferry.config.json');
    await mkdir(path.join(dir, 'src'));
    await mkdir(path.join(dir, 'data'));
    await mkdir(path.join(dir, 'deep/er'), { recursive: true });
    await writeFile(
      path.join(dir, 'src/job.ts'),
      'export function createJob() { return { run: (p: unknown) => console.log(JSON.stringify(p)) }; }\n',
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const write = (config: unknown) => writeFile(file, JSON.stringify(config, null, 2));

  it('prints the resolved config, from any folder below it, with secrets by name only', async () => {
    await write(base);
    const secrets = { REG_PW: 'hunter2-registry', WANDB_API_KEY: 'wandb-secret-value' };
    const result = await ferry(['config'], path.join(dir, 'deep/er'), secrets);
    expect(result.stderr).toContain(`ferry: ${file} (relative paths resolved from ${dir})`);
    expect(result.code).toBe(0);
    const shown = JSON.parse(result.stdout) as Record<string, never>;
    expect(shown).toMatchObject({
      job: { module: path.join(dir, 'src/job.ts'), export: 'createJob' },
      sourceRoot: path.join(dir, 'src'),
      workDir: path.join(dir, '.ferry'),
      defaults: { target: 'local', parameters: {} },
      targets: {
        attached: { type: 'attached', viaPackage: false },
        local: {
          type: 'local',
          environment: ['WANDB_API_KEY'],
          mounts: [{ host: path.join(dir, 'data'), container: '/data', readOnly: true }],
        },
        'gpu-box': {
          type: 'remote',
          hostKeyCheck: 'strict',
          dockerSocket: '/var/run/docker.sock',
          key: path.join(dir, 'keys/id_ed25519'),
          knownHosts: path.join(os.homedir(), '.ssh/known_hosts'),
          hostKeyFingerprint: [FINGERPRINT],
          registryAuth: { username: 'me', passwordEnv: 'REG_PW' },
          mounts: [{ host: '/scratch', container: '/scratch', readOnly: false }],
        },
      },
    });
    for (const value of Object.values(secrets)) {
      expect(result.stdout + result.stderr).not.toContain(value);
    }
    // What it prints is itself a config, resolving to the same thing.
    const again = parseConfig(result.stdout, file);
    expect(again).toEqual(parseConfig(JSON.stringify(base), file));

    const one = await ferry(['config', '--target', 'gpu-box'], dir);
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({ type: 'remote', host: 'gpu.example.com' });
    const help = await ferry(['config', '--help'], dir);
    expect(help.stdout).toMatch(/^Usage: ferry config \[--target <name>\]/);
  });

  it('calls a target named after an Object.prototype member unknown', async () => {
    await write(base);
    for (const name of ['toString', 'constructor', '__proto__']) {
      const result = await ferry(['config', '--target', name], dir);
      expect(result.code, name).toBe(2);
      expect(result.stderr).toContain(
        `ferry: error: unknown target ${JSON.stringify(name)}; the targets in ${file} are attached, local, gpu-box`,
      );
    }
    const close = await ferry(['config', '--target', 'gpu-bx'], dir);
    expect(close.stderr).toContain('unknown target "gpu-bx" (did you mean "gpu-box"?)');
  });

  it('names a misspelled host once, not as a cascade of unknown keys', async () => {
    await editConfig(dir, (config) => {
      const targets = config.targets as Record<string, Record<string, unknown>>;
      const { host, ...rest } = targets['gpu-box']!;
      targets['gpu-box'] = { hots: host, ...rest };
    });
    const result = await ferry(['config'], dir);
    expect(result.code).toBe(2);
    const [first] = result.stderr.split('\n');
    expect(first).toMatch(
      `ferry: error: ${file}: targets.gpu-box.hots: unknown key (did you mean "host"?); allowed: type, `,
    );
    // The allowed keys are those of a remote target: the typo did not make it a local one.
    expect(first!.split('allowed: ')[1]!.split(', ')).toEqual(
      expect.arrayContaining(['host', 'port', 'user', 'key', 'knownHosts', 'proxyJump']),
    );
    expect(result.stderr).not.toMatch(/targets\.gpu-box\.(port|user|key|knownHosts|host):/);
  });

  it('names the key of a bad value, and of a mount whose folder is missing', async () => {
    await write({
      ...base,
      targets: { ...base.targets, 'gpu-box': { ...base.targets['gpu-box'], port: '22a' } },
    });
    const port = await ferry(['config'], dir);
    expect(port.code).toBe(2);
    expect(port.stderr).toBe(
      `ferry: error: ${file}: targets.gpu-box.port: expected a port number 1-65535, got "22a"\n`,
    );
    await write({
      ...base,
      targets: { local: { mounts: [{ host: 'missing', container: '/m' }] } },
    });
    const mount = await ferry(['config'], dir);
    expect(mount.code).toBe(2);
    expect(mount.stderr).toBe(
      `ferry: error: ${file}: targets.local.mounts[0]: the host folder ${path.join(dir, 'missing')} does not exist (relative paths are resolved from ${dir}); create it, or fix the path\n`,
    );
    // A remote host's folders are on that host: not checked here, but they must be absolute.
    await write({ ...base, targets: { r: { host: 'h', mounts: ['data:/data'] } } });
    const remote = await ferry(['config'], dir);
    expect(remote.stderr).toBe(
      `ferry: error: ${file}: targets.r.mounts[0]: expected "/host/path:/container/path" with an optional ":ro" (the host path absolute: it is on the remote host), got "data:/data"\n`,
    );
  });

  it('names the config key of a key file that cannot be read and of a variable not set, before anything is built', async () => {
    await write({
      ...base,
      targets: {
        ...base.targets,
        local: { environment: ['FERRY_TEST_UNSET_VARIABLE'] },
        box: { host: '127.0.0.1', key: 'keys/missing_key' },
      },
    });
    const key = await ferry(['run', '-t', 'box'], dir);
    expect(key.code).toBe(2);
    expect(key.stderr).toBe(
      `ferry: error: ${file}: targets.box.key: cannot read ${path.join(dir, 'keys/missing_key')} (no such file; relative paths are resolved from ${dir}); fix the path, or leave key out to use ssh-agent and ~/.ssh/id_*\n`,
    );
    const variable = await ferry(['run'], dir);
    expect(variable.code).toBe(2);
    expect(variable.stderr).toBe(
      `ferry: error: ${file}: targets.local.environment: FERRY_TEST_UNSET_VARIABLE is to be passed to the job but not set here; set it before running (export FERRY_TEST_UNSET_VARIABLE=…), or remove it from the list\n`,
    );
    expect(variable.stderr).not.toContain('propagatedEnvironmentVariables');
  });

  it('refuses malformed --grid and --param values, quoting them and showing the right form', async () => {
    await write(base);
    const range = await ferry(['sweep', '--grid', 'lr=1..x'], dir);
    expect(range.code).toBe(2);
    expect(range.stderr).toBe(
      'ferry: error: --grid "lr=1..x": a range is two whole numbers, from..to (--grid lr=1..20); list other values with commas (--grid lr=0.1,0.5,1)\n',
    );
    const list = await ferry(['sweep', '--grid', 'lr=[0.1,0.01'], dir);
    expect(list.code).toBe(2);
    expect(list.stderr).toMatch(
      /^ferry: error: --grid "lr=\[0\.1,0\.01": "\[0\.1,0\.01" is not valid JSON \(.*\); write a JSON list, quoted for the shell: --grid 'lr=\[0\.1,0\.01\]'\n$/,
    );
    const retyped = await ferry(
      ['run', '--target', 'attached', '-p', 'epochs=3', '-p', 'epochs.x=1'],
      dir,
    );
    expect(retyped.code).toBe(2);
    expect(retyped.stderr).toBe(
      `ferry: error: --param "epochs.x=1": epochs is 3 (a number, set by --param "epochs=3"), so epochs.x cannot be set inside it; set the whole object instead (--param 'epochs={"x":…}') or drop one of the two\n`,
    );
    const polluting = await ferry(
      ['run', '--target', 'attached', '-p', '__proto__.polluted=1'],
      dir,
    );
    expect(polluting.code).toBe(2);
    expect(polluting.stderr).toContain(
      'ferry: error: --param "__proto__.polluted=1": "__proto__" cannot be a parameter name',
    );
    await writeFile(path.join(dir, 'params.json'), '{"lr": 0.1,');
    const params = await ferry(['run', '--target', 'attached', '--params', 'params.json'], dir);
    expect(params.code).toBe(2);
    expect(params.stderr).toMatch(
      /^ferry: error: --params .*params\.json: not valid JSON \(.*\); the file holds one JSON object of parameters, e.g. \{"epochs":10,"optimizer":\{"lr":0\.01\}\}\n$/,
    );
  });
});
