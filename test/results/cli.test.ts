/**
 * The CLI's side of results, driven through bin/ferry.mjs as a user would: metrics in the run's
 * output and in `ls` / a sweep's table (sorted, CSV, JSON), `ferry result`, `ferry outputs`, and
 * `ferry rm` refusing to drop outputs never downloaded.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/records/index.js';
import { cleanEngine, editConfig, ferry, testbedTarget } from '../cli/support.js';
import { requireTestbed } from '../support/testbed.js';

const testbed = requireTestbed('local', 'baseImage');
const remoteTestbed = requireTestbed('local', 'remote', 'baseImage');

const JOB = `
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

export class Score {
  constructor(readonly lr: number, readonly values: Float64Array) {}
}

export class TrainJob {
  async run(parameters: { lr?: number } = {}, context: any): Promise<Score> {
    const lr = Number(parameters.lr ?? 0.1);
    for (let step = 0; step < 3; step++) context.logMetric('loss', lr * (3 - step), { step });
    context.logMetric('acc', 1 - lr);
    await writeFile(path.join(context.outputDir, 'model.txt'), 'lr=' + lr + '\\n');
    return new Score(lr, new Float64Array([lr, lr * 2]));
  }
}

export function createJob(): TrainJob {
  return new TrainJob();
}
`;

describe.skipIf(!testbed)('ferry result, outputs and metrics from the command line', () => {
  const project = `cli-results-${randomBytes(3).toString('hex')}`;
  let root: string;
  let dir: string;
  let docker: Dockerode;

  beforeAll(async () => {
    docker = new Dockerode({ socketPath: testbed!.localDocker.socketPath });
    root = await mkdtemp(path.join(os.tmpdir(), 'ferry-cli-results-'));
    dir = path.join(root, 'project');
    const init = await ferry(['init', 'project', '--name', project], root);
    expect(init.code, init.stderr).toBe(0);
    await writeFile(path.join(dir, 'src', 'job.ts'), JOB);
    await editConfig(dir, (config) => {
      (config.targets as Record<string, Record<string, unknown>>).local!.baseImage =
        testbed!.baseImage;
      (config.defaults as Record<string, unknown>).parameters = {};
    });
  }, 60_000);

  afterAll(async () => {
    await cleanEngine(docker, project);
    await rm(root, { recursive: true, force: true });
  });

  it('a local run shows its metrics live and at its end; result and outputs come home', async () => {
    const run = await ferry(['run', '--param', 'lr=0.5'], dir);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('ferry:metric {"name":"loss","value":1.5,"step":0');
    expect(run.stderr).toContain('ferry: metrics: acc=0.5  loss=0.5');
    const id = /run (\S+) succeeded/.exec(run.stderr)![1]!;
    expect(run.stderr).toContain(`ferry result ${id}; ferry outputs ${id}`);

    const result = await ferry(['result', id], dir);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Score { lr: 0.5, values: Float64Array(2) [ 0.5, 1 ] }');
    const out = await ferry(['result', id, '--out', path.join(root, 'result.json')], dir);
    expect(out.code, out.stderr).toBe(0);
    expect(JSON.parse(await readFile(path.join(root, 'result.json'), 'utf8')).format).toBe(
      'ferry-graph',
    );
    expect((await readFile(path.join(root, 'result.json.bin'))).length).toBe(16);

    const status = await ferry(['status', id], dir);
    expect(status.stdout).toMatch(/metrics:\s+acc=0\.5 {2}loss=0\.5/);
    expect(status.stdout).toMatch(/outputs:\s+not downloaded/);

    // Outputs never downloaded: rm refuses until told.
    const refused = await ferry(['rm', id], dir);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('never downloaded');
    const to = path.join(root, 'outputs-here');
    const outputs = await ferry(['outputs', id, '--to', to], dir);
    expect(outputs.code, outputs.stderr).toBe(0);
    expect(await readFile(path.join(to, 'model.txt'), 'utf8')).toBe('lr=0.5\n');
    const removed = await ferry(['rm', id], dir);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toMatch(new RegExp(`${id} removed: container \\w+ on .*, record`));
  }, 180_000);

  it('a removed container (--rm) still serves its outputs; rm --keep-outputs keeps them', async () => {
    const run = await ferry(['run', '--rm', '--param', 'lr=0.2'], dir);
    expect(run.code, run.stderr).toBe(0);
    const id = /run (\S+) succeeded/.exec(run.stderr)![1]!;
    const kept = await ferry(['rm', id, '--keep-outputs'], dir);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toContain('kept in');
    const outputs = await ferry(['outputs', id, '--to', path.join(root, 'kept')], dir);
    expect(outputs.code, outputs.stderr).toBe(0);
    expect(existsSync(path.join(root, 'kept', 'model.txt'))).toBe(true);
    const result = await ferry(['result', id], dir);
    expect(result.stdout).toContain('Score { lr: 0.2');
    expect((await ferry(['rm', id, '--drop-outputs'], dir)).code).toBe(0);
  }, 180_000);

  it('a sweep table and ls have metric columns, sorted, and export CSV and JSON', async () => {
    const sweep = await ferry(['sweep', '--grid', 'lr=0.3,0.1,0.2', '--parallel', '2'], dir);
    expect(sweep.code, sweep.stderr).toBe(0);
    expect(sweep.stderr).toMatch(/#\s+RUN\s+STATUS\s+EXIT\s+DURATION\s+ACC\s+LOSS\s+PARAMETERS/);
    const sweepId = /(sweep-[\w-]+)/.exec(sweep.stderr)![1]!;
    const csv = await ferry(['status', sweepId, '--sort', 'loss', '--csv'], dir);
    expect(csv.code, csv.stderr).toBe(0);
    const lines = csv.stdout.trim().split('\n');
    expect(lines[0]).toBe(
      'id,job,target,status,exit_code,created_at,started_at,finished_at,sweep_id,sweep_index,parameters,acc,loss',
    );
    expect(lines.slice(1).map((l) => l.split(',').at(-1))).toEqual(['0.1', '0.2', '0.3']);
    const desc = await ferry(['ls', '--sweep', sweepId, '--sort', 'loss', '--desc', '--json'], dir);
    const records = JSON.parse(desc.stdout) as RunRecord[];
    expect(records.map((r) => r.metrics?.loss)).toEqual([0.3, 0.2, 0.1]);
    const table = await ferry(['ls', '--sort', 'acc'], dir);
    expect(table.stdout).toMatch(
      /RUN ID\s+TARGET\s+STATUS\s+EXIT\s+CREATED\s+DURATION\s+SWEEP\s+ACC\s+LOSS/,
    );
    const all = await ferry(['outputs', sweepId, '--to', path.join(root, 'sweep-out')], dir);
    expect(all.code, all.stderr).toBe(0);
    for (const record of records) {
      expect(await readFile(path.join(root, 'sweep-out', record.id, 'model.txt'), 'utf8')).toBe(
        `lr=${record.parameters.lr}\n`,
      );
    }
    const bad = await ferry(['ls', '--sort', 'nope'], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('neither a metric of these runs (acc, loss)');
  }, 240_000);

  it('an attached run gives its result the same way', async () => {
    const run = await ferry(['run', '--target', 'attached', '--param', 'lr=0.25'], dir);
    expect(run.code, run.stderr).toBe(0);
    const id = /run (\S+) succeeded/.exec(run.stderr)![1]!;
    const result = await ferry(['result', id], dir);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Score { lr: 0.25');
  }, 60_000);
});

describe.skipIf(!remoteTestbed)(
  'ferry result and outputs of a remote run, from another checkout too',
  () => {
    const project = `cli-results-remote-${randomBytes(3).toString('hex')}`;
    let root: string;
    let local: Dockerode;
    let remote: Dockerode;

    beforeAll(async () => {
      local = new Dockerode({ socketPath: remoteTestbed!.localDocker.socketPath });
      remote = new Dockerode({ socketPath: remoteTestbed!.remote.dockerSocketPath });
      root = await mkdtemp(path.join(os.tmpdir(), 'ferry-cli-results-remote-'));
      for (const folder of ['project', 'elsewhere']) {
        const init = await ferry(['init', folder, '--name', project], root);
        expect(init.code, init.stderr).toBe(0);
        await writeFile(path.join(root, folder, 'src', 'job.ts'), JOB);
        await editConfig(path.join(root, folder), (config) => {
          config.defaults = { target: 'testbed', parameters: {} };
          (config.targets as Record<string, unknown>).testbed = testbedTarget(remoteTestbed!);
        });
      }
    }, 60_000);

    afterAll(async () => {
      await cleanEngine(remote, project);
      await cleanEngine(local, project);
      await rm(root, { recursive: true, force: true });
    });

    it('brings the result and outputs home over SSH, here and from a checkout with no record', async () => {
      const dir = path.join(root, 'project');
      const run = await ferry(['run', '--param', 'lr=0.4'], dir);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain('ferry: metrics: acc=0.6  loss=0.4');
      const id = /run (\S+) succeeded/.exec(run.stderr)![1]!;
      const result = await ferry(['result', id], dir);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain('Score { lr: 0.4, values: Float64Array(2) [ 0.4, 0.8 ] }');
      const outputs = await ferry(['outputs', id, '--to', path.join(root, 'remote-out')], dir);
      expect(outputs.code, outputs.stderr).toBe(0);
      expect(await readFile(path.join(root, 'remote-out', 'model.txt'), 'utf8')).toBe('lr=0.4\n');

      const elsewhere = path.join(root, 'elsewhere');
      const there = await ferry(['result', id, '--target', 'testbed'], elsewhere);
      expect(there.code, there.stderr).toBe(0);
      expect(there.stdout).toContain('Score { lr: 0.4');
      const status = await ferry(['status', id, '--target', 'testbed'], elsewhere);
      expect(status.stdout).toMatch(/metrics:\s+acc=0\.6 {2}loss=0\.4/);
    }, 240_000);
  },
);
