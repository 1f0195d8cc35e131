/**
 * Memoization and references from the command line, as a user drives them: `ferry run --cache`,
 * `--rerun`, `--param key=@<run id>`, `ferry sweep --cache`, and what `ls` and `status` show.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cleanEngine, editConfig, ferry } from '../cli/support.js';
import { describeWithTestbed } from '../support/describeWithTestbed.js';
import { requireTestbed } from '../support/testbed.js';

const JOB = `
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

export class TrainJob {
  async run(parameters: { lr?: number; prev?: { lr: number } } = {}, context: any) {
    const lr = Number(parameters.lr ?? 0.1);
    context.logMetric('loss', lr * 2);
    await writeFile(path.join(context.outputDir, 'model.txt'), 'lr=' + lr + '\\n');
    return { lr, prev: parameters.prev?.lr ?? null };
  }
}

export function createJob(): TrainJob {
  return new TrainJob();
}
`;

describeWithTestbed(
  requireTestbed('local', 'baseImage'),
  'ferry run --cache, @references, sweep --cache',
  (tb) => {
    const project = `cli-memo-${randomBytes(3).toString('hex')}`;
    let root: string;
    let dir: string;
    const docker = new Dockerode({ socketPath: tb.localDocker.socketPath });
    const idOf = (stderr: string): string =>
      /run (\S+) (?:succeeded|served from cache)/.exec(stderr)![1]!;

    beforeAll(async () => {
      root = await mkdtemp(path.join(os.tmpdir(), 'ferry-cli-memo-'));
      dir = path.join(root, 'project');
      const init = await ferry(['init', 'project', '--name', project], root);
      expect(init.code, init.stderr).toBe(0);
      await writeFile(path.join(dir, 'src', 'job.ts'), JOB);
      await editConfig(dir, (config) => {
        (config.targets as Record<string, Record<string, unknown>>).local!.baseImage = tb.baseImage;
        (config.defaults as Record<string, unknown>).parameters = {};
      });
    }, 60_000);

    afterAll(async () => {
      await cleanEngine(docker, project);
      await rm(root, { recursive: true, force: true });
    });

    it('serves a second run from cache, shows it, and takes a result as a parameter', async () => {
      const first = await ferry(['run', '--cache', '-p', 'lr=0.5'], dir);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stderr).toContain('ferry: not from cache: no succeeded run with this key');
      const firstId = idOf(first.stderr);
      const second = await ferry(['run', '--cache', '-p', 'lr=0.5'], dir);
      expect(second.code, second.stderr).toBe(0);
      expect(second.stderr).toContain(`served from cache: run ${firstId} on local`);
      expect(second.stdout).not.toContain('Job completed');
      const secondId = idOf(second.stderr);

      const status = await ferry(['status', secondId], dir);
      expect(status.stdout).toMatch(/cache key:\s+[0-9a-f]{64}/);
      expect(status.stdout).toMatch(new RegExp(`cached from:\\s+${firstId}`));
      const ls = await ferry(['ls'], dir);
      expect(ls.stdout).toContain('CACHED FROM');
      expect(ls.stdout).toMatch(new RegExp(`${secondId}.*${firstId}`));
      const result = await ferry(['result', secondId], dir);
      expect(result.stdout).toContain('lr: 0.5');

      const rerun = await ferry(['run', '--cache', '--rerun', '-p', 'lr=0.5'], dir);
      expect(rerun.stderr).toMatch(/run \S+ succeeded/);

      const chained = await ferry(['run', '-p', 'lr=0.1', '-p', `prev=@${firstId}`], dir);
      expect(chained.code, chained.stderr).toBe(0);
      const chainedId = idOf(chained.stderr);
      expect((await ferry(['result', chainedId], dir)).stdout).toContain('prev: 0.5');
      expect((await ferry(['status', chainedId], dir)).stdout).toMatch(
        new RegExp(`inputs:\\s+parameters.prev ← result of run ${firstId} on local`),
      );

      const unknown = await ferry(['run', '-p', 'prev=@20200101-000000-zzzzzz'], dir);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain(
        'ferry: error: --param prev=@20200101-000000-zzzzzz: no run',
      );
    }, 300_000);

    it('a sweep with --cache runs only the parameter sets with no succeeded run', async () => {
      const sweep = await ferry(['sweep', '--cache', '--grid', 'lr=0.5,0.7'], dir);
      expect(sweep.code, sweep.stderr).toBe(0);
      expect(sweep.stderr).toContain('1 of 2 parameter sets served from cache');
      expect(sweep.stderr).toContain('CACHED FROM');
      const again = await ferry(['sweep', '--cache', '--grid', 'lr=0.5,0.7'], dir);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toContain('2 of 2 parameter sets served from cache');
    }, 300_000);
  },
);
