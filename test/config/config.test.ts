import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  ConfigNotFoundError,
  getTarget,
  JobLoadError,
  loadConfig,
  loadJob,
  parseConfig,
  UnknownTargetError,
} from '../../src/config/index.js';
import { createExecutor, dockerOptionsFor, routineFromConfig } from '../../src/config/targets.js';
import { AttachedExecutor } from '../../src/routines/attachedExecutor.js';
import { LocalDockerExecutor } from '../../src/routines/localDockerExecutor.js';
import { RemoteDockerExecutor } from '../../src/routines/remoteDockerExecutor.js';

const FILE = '/project/ferry.config.json';
const minimal = {
  project: 'demo',
  version: '1.0.0',
  job: 'src/job.ts#createJob',
  sourceRoot: 'src',
};

function parse(value: unknown) {
  return parseConfig(JSON.stringify(value), FILE);
}

function problems(value: unknown): string[] {
  try {
    parse(value);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues.map((i) => `${i.key}: ${i.message}`);
  }
  throw new Error('expected a ConfigError');
}

describe('ferry.config.json validation', () => {
  it('resolves paths from the config folder and fills defaults', () => {
    const config = parse(minimal);
    expect(config.root).toBe('/project');
    expect(config.sourceRoot).toBe('/project/src');
    expect(config.job).toEqual({ module: '/project/src/job.ts', export: 'createJob' });
    expect(config.workDir).toBe('/project/.ferry');
    expect(config.defaults).toEqual({ target: 'local', parameters: {} });
    expect(Object.keys(config.targets)).toEqual(['attached', 'local']);
    expect(getTarget(config).type).toBe('local');
  });

  it('reads remote targets with every setting', () => {
    const config = parse({
      ...minimal,
      job: { module: 'src/job.ts' },
      defaults: { target: 'gpu-box', parameters: { epochs: 3, optimizer: { lr: 0.1 } } },
      targets: {
        'gpu-box': {
          host: 'gpu.example.com',
          port: 2222,
          user: 'me',
          key: 'keys/id',
          knownHosts: '~/.ssh/known_hosts',
          repository: 'registry.example.com:5000/team',
          registryAuth: { username: 'me', passwordEnv: 'REGISTRY_PASSWORD' },
          gpus: 2,
          environment: ['WANDB_API_KEY'],
          mounts: ['/data:/data:ro', { host: '/scratch', container: '/scratch' }],
          limits: { cpus: 4, memory: '16g' },
          baseImage: 'nvidia/cuda:12-node',
          maxParallel: 2,
        },
      },
    });
    const target = getTarget(config);
    expect(config.job.export).toBe('default');
    expect(target).toMatchObject({
      type: 'remote',
      host: 'gpu.example.com',
      port: 2222,
      user: 'me',
      key: '/project/keys/id',
      knownHosts: path.join(os.homedir(), '.ssh/known_hosts'),
      hostKeyCheck: 'strict',
      dockerSocket: '/var/run/docker.sock',
      gpus: 2,
      mounts: [
        { hostPath: '/data', containerPath: '/data', readOnly: true },
        { hostPath: '/scratch', containerPath: '/scratch', readOnly: false },
      ],
    });
    if (target.type !== 'remote') throw new Error('remote expected');
    const options = dockerOptionsFor(target);
    expect(options.memoryLimit).toBe(16 * 1024 ** 3);
    expect(options.propagatedEnvironmentVariables).toEqual(['WANDB_API_KEY']);
    expect(options.wait).toBe(false);
  });

  it('names the key of a bad value', () => {
    expect(problems({ ...minimal, targets: { 'gpu-box': { host: 'h', port: '22a' } } })).toEqual([
      'targets.gpu-box.port: expected a port number 1-65535, got "22a"',
    ]);
    expect(() => parse({ ...minimal, targets: { 'gpu-box': { host: 'h', port: '22a' } } })).toThrow(
      '/project/ferry.config.json: targets.gpu-box.port: expected a port number 1-65535, got "22a"',
    );
  });

  it('lists every problem, and suggests the key meant', () => {
    const found = problems({
      project: 'Bad Name',
      version: '1.0',
      sourceRoot: 'src',
      targets: {
        box: { host: 'h', hots: 'x', gpus: 0, limits: { memory: 'lots' }, mounts: ['data'] },
      },
      defaults: { target: 'nowhere' },
    });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^project: expected 1-100 lower-case letters/),
        'version: expected a semver version such as "1.0.0", got "1.0"',
        expect.stringMatching(/^job: is required/),
        expect.stringMatching(/^targets\.box\.hots: unknown key \(did you mean "host"\?\)/),
        expect.stringMatching(/^targets\.box\.gpus: expected "all", a number of GPUs/),
        'targets.box.limits.memory: expected bytes or a size such as "512m" or "4g", got "lots"',
        expect.stringMatching(
          /^targets\.box\.mounts\[0\]: expected "\/host\/path:\/container\/path"/,
        ),
      ]),
    );
    expect(problems({ ...minimal, defaults: { target: 'nowhere' } })).toEqual([
      'defaults.target: no target named "nowhere"; targets: attached, local',
    ]);
    expect(
      problems({
        ...minimal,
        defaults: { parameters: { bad: [1, null, { x: 'ok' }], n: 'x' } },
        extra: 1,
      }),
    ).toEqual([expect.stringMatching(/^extra: unknown key/)]);
  });

  it('reports JSON syntax errors with line and column', () => {
    expect(() => parseConfig('{\n  "project": "x",\n  oops\n}', FILE)).toThrow(
      /not valid JSON: .*line 3/,
    );
  });

  it('finds the config upwards, and says how to make one when there is none', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-config-'));
    try {
      await expect(loadConfig({ cwd: dir })).rejects.toThrow(ConfigNotFoundError);
      await expect(loadConfig({ cwd: dir })).rejects.toThrow(/ferry init/);
      await writeFile(path.join(dir, 'ferry.config.json'), JSON.stringify(minimal));
      await mkdir(path.join(dir, 'deep/er'), { recursive: true });
      const config = await loadConfig({ cwd: path.join(dir, 'deep/er') });
      expect(config.file).toBe(path.join(dir, 'ferry.config.json'));
      expect(() => getTarget(config, 'nope')).toThrow(UnknownTargetError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('loadJob and executors from a config', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-job-'));
    await mkdir(path.join(dir, 'src'));
    await writeFile(
      path.join(dir, 'src/job.ts'),
      [
        'export class Job { constructor(readonly n: number) {} run(p: Record<string, unknown> = {}) { return this.n + Number(p.add ?? 0); } }',
        'export const instance = new Job(1);',
        'export function createJob() { return new Job(2); }',
        'export async function createLater() { return new Job(3); }',
        'export function broken() { throw new Error("no data"); }',
        'export const notAJob = { run: 1 };',
        'import { readFileSync } from "node:fs";',
        'export async function fromData() { await new Promise((r) => setTimeout(r, 50)); return new Job(Number(readFileSync("data/n.txt", "utf8"))); }',
      ].join('\n'),
    );
    await writeFile(path.join(dir, 'package.json'), '{"type":"module"}');
    await mkdir(path.join(dir, 'data'));
    await writeFile(path.join(dir, 'data/n.txt'), '7');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const configFor = (job: string, extra: object = {}) =>
    parseConfig(JSON.stringify({ ...minimal, job, ...extra }), path.join(dir, 'ferry.config.json'));

  it('takes an instance, or calls a (sync or async) factory', async () => {
    expect(((await loadJob(configFor('src/job.ts#instance'))) as unknown as { n: number }).n).toBe(
      1,
    );
    expect(((await loadJob(configFor('src/job.ts#createJob'))) as unknown as { n: number }).n).toBe(
      2,
    );
    expect(
      ((await loadJob(configFor('src/job.ts#createLater'))) as unknown as { n: number }).n,
    ).toBe(3);
  });

  it("calls the factory in the config's folder, whatever the current one, and restores it, also when loads overlap", async () => {
    const before = process.cwd();
    const other = await mkdtemp(path.join(os.tmpdir(), 'ferry-job-other-'));
    try {
      await mkdir(path.join(other, 'src'));
      await mkdir(path.join(other, 'data'));
      await writeFile(path.join(other, 'src/job.ts'), await readFile(path.join(dir, 'src/job.ts')));
      await writeFile(path.join(other, 'package.json'), '{"type":"module"}');
      await writeFile(path.join(other, 'data/n.txt'), '8');
      const otherConfig = parseConfig(
        JSON.stringify({ ...minimal, job: 'src/job.ts#fromData' }),
        path.join(other, 'ferry.config.json'),
      );
      const jobs = await Promise.all([
        loadJob(configFor('src/job.ts#fromData')),
        loadJob(otherConfig),
      ]);
      expect(jobs.map((j) => (j as unknown as { n: number }).n)).toEqual([7, 8]);
      expect(process.cwd()).toBe(before);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it('says what is wrong with the export', async () => {
    await expect(loadJob(configFor('src/job.ts#missing'))).rejects.toThrow(
      /has no export "missing" \(it exports: .*createJob/,
    );
    await expect(loadJob(configFor('src/job.ts#Job'))).rejects.toThrow(
      /is a class; export an instance/,
    );
    await expect(loadJob(configFor('src/job.ts#broken'))).rejects.toThrow(
      /broken\(\) threw: no data/,
    );
    await expect(loadJob(configFor('src/job.ts#notAJob'))).rejects.toThrow(JobLoadError);
    await expect(loadJob(configFor('src/nope.ts#x'))).rejects.toThrow(
      /job\.module: .* does not exist/,
    );
  });

  it('builds the executor of each target kind, and a routine', async () => {
    const config = configFor('src/job.ts#createJob', {
      targets: { box: { host: '127.0.0.1', port: 1, hostKeyCheck: 'skip' } },
    });
    const job = await loadJob(config);
    expect(createExecutor(config, 'attached', { job })).toBeInstanceOf(AttachedExecutor);
    expect(createExecutor(config, 'local', { job })).toBeInstanceOf(LocalDockerExecutor);
    expect(createExecutor(config, 'box', { job })).toBeInstanceOf(RemoteDockerExecutor);
    const run = await createExecutor(config, 'attached', { job }).execute({
      parameters: { add: 5 },
    });
    expect((await run.wait()).exitCode).toBe(0);
    const routine = routineFromConfig(config, job);
    expect(routine.name).toBe('demo');
    expect(routine.remote).toBeInstanceOf(RemoteDockerExecutor);
    expect(routine.remote.target).toBe(`${os.userInfo().username}@127.0.0.1:1`);
    expect(routine.packagingTask().sourceRoot).toBe(path.join(dir, 'src'));
  });
});

describe('config mistakes named once, in the file’s own keys', () => {
  it('takes a target with a key only remote targets have as remote, so a missing host is the one mistake', () => {
    expect(
      problems({
        ...minimal,
        targets: { 'gpu-box': { hots: 'gpu', port: 22, user: 'me', key: 'k', knownHosts: 'kh' } },
      }),
    ).toEqual([
      expect.stringMatching(/^targets\.gpu-box\.hots: unknown key \(did you mean "host"\?\)/),
    ]);
    expect(problems({ ...minimal, targets: { 'gpu-box': { Host: 'gpu' } } })).toEqual([
      expect.stringMatching(/^targets\.gpu-box\.Host: unknown key \(did you mean "host"\?\)/),
    ]);
    expect(problems({ ...minimal, targets: { 'gpu-box': { port: 2222 } } })).toEqual([
      'targets.gpu-box.host: is required for a remote target: the host name or address to reach over SSH',
    ]);
    // Without a remote key, a target is local, and a remote-looking key is just unknown there.
    expect(parse({ ...minimal, targets: { box: {} } }).targets.box?.type).toBe('local');
    expect(
      parse({ ...minimal, targets: { attached: { viaPackage: true } } }).targets.attached,
    ).toEqual({
      name: 'attached',
      type: 'attached',
      viaPackage: true,
    });
    expect(problems({ ...minimal, targets: { box: { type: 'remot', host: 'h' } } })).toEqual([
      'targets.box.type: expected "attached", "local", "remote" or "swarm", got "remot"',
    ]);
  });

  it('never names an API field: messages use the keys the user wrote', () => {
    const found = problems({
      ...minimal,
      targets: {
        box: {
          host: 'h',
          key: 3,
          environment: ['not a name'],
          dockerSocket: 'relative.sock',
          mounts: [{ host: 'rel', container: '/c' }, '/a:/b:rx'],
          limits: { memory: 'lots', cpus: -1 },
          hostKeyFingerprint: ['MD5:xx'],
          registryAuth: { username: 'me', passwordEnv: 'REG_PW', password: 'x' },
        },
      },
    });
    expect(found).toEqual([
      'targets.box.environment[0]: expected environment variable names, got "not a name"',
      expect.stringMatching(
        /^targets\.box\.mounts\[0\]\.host: expected .* \(absolute: it is a path on the remote host\), got "rel"$/,
      ),
      'targets.box.mounts[1]: expected "/host/path:/container/path" with an optional ":ro" (the host path absolute: it is on the remote host), got "/a:/b:rx"',
      'targets.box.limits.cpus: expected a positive number of CPUs such as 1.5, got -1',
      'targets.box.limits.memory: expected bytes or a size such as "512m" or "4g", got "lots"',
      'targets.box.dockerSocket: expected an absolute path to the Docker socket on that host, got "relative.sock"',
      'targets.box.key: expected the path of a private key file, got 3',
      'targets.box.hostKeyFingerprint[0]: expected SHA256:… fingerprints as ssh-keygen -lf prints them, got "MD5:xx"',
      expect.stringMatching(
        /^targets\.box\.registryAuth\.password: unknown key; allowed: username, passwordEnv$/,
      ),
    ]);
    for (const line of found) {
      expect(line).not.toMatch(
        /privateKeyPath|propagatedEnvironmentVariables|dockerSocketPath|memoryLimit|cpuLimit|hostPath|containerPath|Invalid input/,
      );
    }
  });

  it('resolves every relative path from the config’s folder, and ~ from the home folder', () => {
    const config = parse({
      ...minimal,
      projectRoot: '..',
      workDir: '~/ferry-work',
      targets: {
        local: {
          mounts: ['data:/data:ro', { host: '../shared', container: '/shared' }],
          dockerSocket: 'run/docker.sock',
        },
        box: { host: 'h', key: 'keys/id', knownHosts: '~/.ssh/known_hosts' },
      },
    });
    expect(config.projectRoot).toBe('/');
    expect(config.workDir).toBe(path.join(os.homedir(), 'ferry-work'));
    expect(getTarget(config, 'local')).toMatchObject({
      dockerSocket: '/project/run/docker.sock',
      mounts: [
        { hostPath: '/project/data', containerPath: '/data', readOnly: true },
        { hostPath: '/shared', containerPath: '/shared', readOnly: false },
      ],
    });
    expect(getTarget(config, 'box')).toMatchObject({
      key: '/project/keys/id',
      knownHosts: path.join(os.homedir(), '.ssh/known_hosts'),
    });
  });

  it('looks targets up as own keys: toString is unknown unless the config defines it', () => {
    const config = parse(minimal);
    for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      expect(config.targets[name], name).toBeUndefined();
      expect(() => getTarget(config, name)).toThrow(UnknownTargetError);
      expect(() => getTarget(config, name)).toThrow(`unknown target ${JSON.stringify(name)}`);
    }
    expect(problems({ ...minimal, defaults: { target: 'toString' } })).toEqual([
      'defaults.target: no target named "toString"; targets: attached, local',
    ]);
    const defined = parse({ ...minimal, targets: { toString: { host: 'h' } } });
    expect(getTarget(defined, 'toString')).toMatchObject({ type: 'remote', host: 'h' });
  });
});

describe('a config holding __proto__ keys', () => {
  it('names each one instead of leaving it out, and nothing reaches Object.prototype', () => {
    const text = JSON.stringify(minimal).replace(
      /}$/,
      ',"__proto__":{"polluted":1},"defaults":{"parameters":{"a":{"__proto__":{"polluted":1}}}},"targets":{"box":{"__proto__":{"polluted":1}}}}',
    );
    let error: unknown;
    try {
      parseConfig(text, FILE);
    } catch (caught) {
      error = caught;
    }
    expect((error as ConfigError).issues.map((i) => i.key)).toEqual([
      'defaults.parameters.a.__proto__',
      '__proto__',
      'targets.box.__proto__',
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('loadConfig and loadJob work from the config’s folder', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-folder-'));
    await mkdir(path.join(dir, 'src'));
    await mkdir(path.join(dir, 'data'));
    await writeFile(path.join(dir, 'data/labels.json'), '["cat","dog"]');
    await writeFile(path.join(dir, 'package.json'), '{"type":"module"}');
    await writeFile(
      path.join(dir, 'src/job.ts'),
      [
        "import { readFileSync } from 'node:fs';",
        'export class Job { constructor(readonly labels: string[], readonly cwd: string) {} run() { return this.labels; } }',
        "export function createJob() { return new Job(JSON.parse(readFileSync('data/labels.json', 'utf8')), process.cwd()); }",
      ].join('\n'),
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('runs the job factory in the config’s folder, and gives the current folder back', async () => {
    await writeFile(path.join(dir, 'ferry.config.json'), JSON.stringify(minimal));
    const before = process.cwd();
    const config = await loadConfig({
      file: path.join(dir, 'ferry.config.json'),
      cwd: os.tmpdir(),
    });
    const job = (await loadJob(config)) as unknown as { labels: string[]; cwd: string };
    expect(job.labels).toEqual(['cat', 'dog']);
    expect(job.cwd).toBe(dir);
    expect(process.cwd()).toBe(before);
  });

  it('refuses a local mount whose host folder does not exist, naming its key', async () => {
    await writeFile(
      path.join(dir, 'ferry.config.json'),
      JSON.stringify({
        ...minimal,
        targets: {
          local: { mounts: ['data:/data', 'nowhere:/nowhere'] },
          box: { host: 'h', mounts: ['/only/on/the/remote:/r'] },
        },
      }),
    );
    const error = await loadConfig({ cwd: dir }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      {
        key: 'targets.local.mounts[1]',
        message: `the host folder ${path.join(dir, 'nowhere')} does not exist (relative paths are resolved from ${dir}); create it, or fix the path`,
      },
    ]);
  });
});
