import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPackageAndGetLoader } from '../../src/packaging/index.js';
import type { RunRecord } from '../../src/records/index.js';
import { requireTestbed } from '../support/testbed.js';
import { describeWithTestbed } from '../support/describeWithTestbed.js';
import { cleanEngine, editConfig, ferry, finished, spawnFerry, FERRY_BIN } from './support.js';
import { spawnSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { COMMANDS, main } from '../../src/cli/main.js';

const testbed = requireTestbed('local', 'baseImage');

describe('ferry without a project', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-cli-empty-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('has help on every command, and exit code 2 for a wrong command line', async () => {
    const help = await ferry(['--help'], dir);
    expect(help.code).toBe(0);
    for (const command of [
      'init',
      'package',
      'build',
      'run',
      'sweep',
      'logs',
      'status',
      'ls',
      'stop',
      'rm',
      'get',
    ]) {
      expect(help.stdout).toContain(`  ${command} `);
      // In-process (the same main() the command runs), to keep the suite quick.
      let text = '';
      const stdout = new PassThrough().on('data', (chunk: Buffer) => (text += chunk.toString()));
      expect(await main([command, '--help'], { stdout, cwd: dir }), command).toBe(0);
      expect(text).toMatch(new RegExp(`^Usage: ferry ${command}`));
    }
    for (const entry of COMMANDS) expect((await entry.load()).summary).toBe(entry.summary);
    const runHelp = await ferry(['run', '-h'], dir);
    expect(runHelp.stdout).toContain('--param <key=value>');
    const unknown = await ferry(['rnu'], dir);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('ferry: error: unknown command "rnu" (did you mean "run"?)');
    const badFlag = await ferry(['run', '--frob'], dir);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain("Unknown option '--frob'");
    expect(badFlag.stderr).toContain("Run 'ferry run --help' for usage.");
    expect(badFlag.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);

  it('says how to make a project when there is no config', async () => {
    const result = await ferry(['ls'], dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^ferry: error: no ferry\.config\.json in .* create one with `ferry init`/,
    );
  });
});

describeWithTestbed(testbed, 'ferry on the local engine, driven as a user would', () => {
  const project = `cli-local-${randomBytes(3).toString('hex')}`;
  let root: string;
  let dir: string;
  let docker: Dockerode;
  const runs: Record<string, string> = {};

  beforeAll(async () => {
    docker = new Dockerode({ socketPath: testbed!.localDocker.socketPath });
    root = await mkdtemp(path.join(os.tmpdir(), 'ferry-cli-local-'));
    dir = path.join(root, 'project');
  });

  afterAll(async () => {
    await cleanEngine(docker, project);
    await rm(root, { recursive: true, force: true });
  });

  it('init writes an example project whose own test passes', async () => {
    const result = await ferry(['init', 'project', '--name', project], root);
    expect(result.code, result.stderr).toBe(0);
    for (const file of [
      'ferry.config.json',
      'package.json',
      'src/job.ts',
      'src/greeting.ts',
      'test/job.test.ts',
      '.gitignore',
    ]) {
      expect(existsSync(path.join(dir, file)), file).toBe(true);
    }
    expect(JSON.parse(await readFile(path.join(dir, 'ferry.config.json'), 'utf8')).project).toBe(
      project,
    );
    const again = await ferry(['init', 'project'], root);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('exists already; use --force');
    const tsx = path.join(
      path.dirname(FERRY_BIN),
      '..',
      'node_modules',
      'tsx',
      'dist',
      'loader.mjs',
    );
    const own = spawnSync(
      process.execPath,
      ['--import', `file://${tsx}`, '--test', 'test/job.test.ts'],
      {
        cwd: dir,
        encoding: 'utf8',
      },
    );
    expect(own.status, own.stdout + own.stderr).toBe(0);
    await editConfig(dir, (config) => {
      (config.targets as Record<string, Record<string, unknown>>).local!.baseImage =
        testbed!.baseImage;
    });
  }, 60_000);

  it('runs attached, with parameters, and records the run', async () => {
    const result = await ferry(
      ['run', '--target', 'attached', '--param', 'name=Ada', '-p', 'extra.n=2'],
      dir,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Hello, Ada!');
    expect(result.stdout).toContain('result: {"name":"Ada","extra":{"n":2}}');
    runs.attached = /run (\S+) succeeded/.exec(result.stderr)![1]!;
    const logs = await ferry(['logs', runs.attached], dir);
    expect(logs.stdout).toContain('Hello, Ada!');
  }, 60_000);

  it('runs in local Docker: output streamed, exit 0 on success and 1 on failure', async () => {
    const ok = await ferry(['run', '--param', 'name=Grace'], dir);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('Hello, Grace!');
    expect(ok.stderr).toMatch(/ferry: build: Step \d+\/\d+/);
    runs.local = /run (\S+) succeeded/.exec(ok.stderr)![1]!;

    const failed = await ferry(['run', '--param', 'fail=true'], dir);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('Error: failing as asked');
    expect(failed.stderr).toMatch(/ferry: run \S+ failed \(exit code 1\)/);
    expect(failed.stderr).toMatch(/ferry: cached: .* is already built/);
    runs.failed = /run (\S+) failed/.exec(failed.stderr)![1]!;
  }, 120_000);

  it('detaches, follows logs from another process, stops the run', async () => {
    const started = await ferry(
      ['run', '-d', '--param', 'sleep=60', '--param', 'name=Sleepy'],
      dir,
    );
    expect(started.code, started.stderr).toBe(0);
    const id = started.stdout.trim();
    expect(id).toMatch(/^\d{8}-\d{6}-[0-9a-f]{6}$/);
    runs.stopped = id;
    const status = await ferry(['status', id.slice(-6), '--json'], dir);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      id,
      status: 'running',
      parameters: { name: 'Sleepy', sleep: 60 },
    });

    const follower = spawnFerry(['logs', '--follow', id], dir);
    const following = finished(follower);
    // Wait until the job has printed its greeting, then stop it from a third process.
    for (
      let i = 0;
      i < 50 && !(await ferry(['logs', id], dir)).stdout.includes('Hello, Sleepy!');
      i++
    ) {
      await new Promise((r) => setTimeout(r, 200));
    }
    const stop = await ferry(['stop', id], dir);
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stdout.trim()).toBe(`${id} stopped`);
    const followed = await following;
    expect(followed.code).toBe(0);
    expect(followed.stdout).toContain('Hello, Sleepy!');
    expect(followed.stdout).toContain('Job stopped');
  }, 120_000);

  it('Ctrl-C while following a run detaches from it (exit 130); the run goes on', async () => {
    const child = spawnFerry(['run', '--param', 'sleep=60', '--param', 'name=Interrupted'], dir);
    const result = finished(child);
    let seen = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('Hello, Interrupted!')) child.kill('SIGINT');
    });
    const { code, stderr } = await result;
    expect(code).toBe(130);
    const id = /detached from run (\S+); it goes on/.exec(stderr)![1]!;
    const status = JSON.parse((await ferry(['status', id, '--json'], dir)).stdout) as RunRecord;
    expect(status.status).toBe('running');
    expect(status.startedAt).toBeDefined();
    expect((await ferry(['stop', id], dir)).stdout.trim()).toBe(`${id} stopped`);
    expect((await ferry(['rm', id], dir)).code).toBe(0);
  }, 120_000);

  it('lists every run with its status, exit code and parameters', async () => {
    const listed = await ferry(['ls', '--json'], dir);
    expect(listed.code, listed.stderr).toBe(0);
    const records = JSON.parse(listed.stdout) as RunRecord[];
    const byId = new Map(records.map((r) => [r.id, r]));
    expect(byId.get(runs.attached!)).toMatchObject({
      target: 'attached',
      status: 'succeeded',
      exitCode: 0,
      job: project,
      version: '0.1.0',
    });
    expect(byId.get(runs.local!)).toMatchObject({
      target: 'local',
      status: 'succeeded',
      exitCode: 0,
      parameters: { name: 'Grace' },
    });
    expect(byId.get(runs.failed!)).toMatchObject({
      status: 'failed',
      exitCode: 1,
      parameters: { fail: true },
    });
    expect(byId.get(runs.stopped!)).toMatchObject({ status: 'stopped', exitCode: 143 });
    for (const record of records) {
      expect(record.uid).toMatch(new RegExp(`^${project}-0\\.1\\.0-[0-9a-f]+$`));
      expect(record.createdAt).toMatch(/^\d{4}-/);
      expect(record.packageSha256).toMatch(/^[0-9a-f]{64}$/);
    }
    const table = await ferry(['ls'], dir);
    expect(table.stdout.split('\n')[0]).toMatch(/^RUN ID\s+TARGET\s+STATUS\s+EXIT\s+CREATED/);
    expect(table.stdout).toContain(runs.stopped!);
  }, 60_000);

  it('gets back the exact package a run used, also from its image', async () => {
    const record = JSON.parse(
      (await ferry(['status', runs.local!, '--json'], dir)).stdout,
    ) as RunRecord;
    const got = await ferry(['get', runs.local!, '--out', path.join(root, 'got.tar.gz')], dir);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stderr).toContain('(matches the record)');
    const loader = await installPackageAndGetLoader(got.stdout.trim(), {
      installRoot: path.join(root, 'installed'),
    });
    expect(loader.uid).toBe(record.uid);
    const job = (await loader.loadResource('job')) as {
      greeting: { render(name: string): string };
    };
    expect(job.greeting.render('you')).toBe('Hello, you!');

    // Without the project's copy, the package is read back from the run's container on the engine.
    await rm(path.join(dir, '.ferry', 'packages'), { recursive: true });
    const fromImage = await ferry(
      ['get', runs.local!, '-o', path.join(root, 'from-image.tar.gz')],
      dir,
    );
    expect(fromImage.code, fromImage.stderr).toBe(0);
    expect(fromImage.stderr).toContain("from the run's image on target local");
    expect(fromImage.stderr).toContain('(matches the record)');
    expect(await readFile(path.join(root, 'from-image.tar.gz'))).toEqual(
      await readFile(path.join(root, 'got.tar.gz')),
    );
  }, 60_000);

  it('queues a sweep on the engine and stops it: the running run stops, the queued ones are cancelled', async () => {
    const queued = await ferry(
      ['sweep', '--grid', 'i=1..3', '--param', 'sleep=60', '--parallel', '1', '--detach'],
      dir,
    );
    expect(queued.code, queued.stderr).toBe(0);
    const sweepId = queued.stdout.trim();
    expect(sweepId).toMatch(/^sweep-/);
    for (let i = 0; i < 50; i++) {
      const status = JSON.parse((await ferry(['status', sweepId, '--json'], dir)).stdout) as {
        counts: Record<string, number>;
      };
      if (status.counts.running === 1) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    // A sweep id shortens as a run id does: to the random part at its end.
    const short = `sweep-${sweepId.split('-').at(-1)}`;
    const listed = await ferry(['ls', '--sweep', short, '--json'], dir);
    expect(listed.code, listed.stderr).toBe(0);
    expect(
      (JSON.parse(listed.stdout) as { sweepIndex: number }[]).map((r) => r.sweepIndex),
    ).toEqual([0, 1, 2]);
    const stopped = await ferry(['stop', short], dir);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stdout).toMatch(/stopped: (1 stopped, 2 cancelled|2 cancelled, 1 stopped)/);
    expect(stopped.stdout).toContain(sweepId);
    const removed = await ferry(['rm', short], dir);
    expect(removed.code, removed.stderr).toBe(0);
    const left = await docker.listContainers({
      all: true,
      filters: JSON.stringify({ label: [`ferry.sweep=${sweepId}`] }),
    });
    expect(left).toEqual([]);
  }, 120_000);

  it('removes a run; unknown run ids are a clear usage error', async () => {
    const removed = await ferry(['rm', runs.stopped!], dir);
    expect(removed.code, removed.stderr).toBe(0);
    const gone = await ferry(['status', runs.stopped!], dir);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toMatch(
      new RegExp(`^ferry: error: no run "${runs.stopped}": it is not in .* nor on target local`),
    );
    const unknown = await ferry(['logs', '20990101-000000-abcdef'], dir);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  }, 60_000);

  it('bad config keys are named (exit 2); an engine that does not answer is exit 3', async () => {
    const original = await readFile(path.join(dir, 'ferry.config.json'), 'utf8');
    try {
      await editConfig(dir, (config) => {
        (config.targets as Record<string, unknown>)['gpu-box'] = { host: 'h', port: '22a', gpu: 1 };
      });
      const bad = await ferry(['run'], dir);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain(
        'targets.gpu-box.port: expected a port number 1-65535, got "22a"',
      );
      expect(bad.stderr).toContain('targets.gpu-box.gpu: unknown key (did you mean "gpus"?)');
      await readFile(path.join(dir, 'ferry.config.json'), 'utf8');
      await editConfig(dir, (config) => {
        (config.targets as Record<string, unknown>)['gpu-box'] = { host: 'h' };
        (config.targets as Record<string, Record<string, unknown>>).local!.dockerSocket =
          '/nonexistent/docker.sock';
      });
      const noEngine = await ferry(['run'], dir);
      expect(noEngine.code).toBe(3);
      expect(noEngine.stderr).toMatch(
        /ferry: error: no Docker engine answers at unix:\/\/\/nonexistent\/docker\.sock/,
      );
    } finally {
      await import('node:fs/promises').then((fs) =>
        fs.writeFile(path.join(dir, 'ferry.config.json'), original),
      );
    }
  }, 60_000);
});
