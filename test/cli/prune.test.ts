/**
 * `ferry prune` as a user meets it, on the test bed's local engine and its remote host: only this
 * project's containers and images go (found by their labels), the newest and whatever a kept run
 * needs stay, a dry run says what would go, and a pruned run's record and logs stay.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunRecord } from '../../src/records/index.js';
import { describeWithTestbed } from '../support/describeWithTestbed.js';
import { requireTestbed } from '../support/testbed.js';
import { cleanEngine, editConfig, ferry, testbedTarget } from './support.js';

const testbed = requireTestbed('local', 'remote', 'baseImage');

const job = (greeting: string): string => `import { writeFileSync } from 'node:fs';
import path from 'node:path';

export class PruneJob {
  constructor(readonly greeting: string) {}
  async run(
    p: { name?: string; out?: boolean; sleep?: number } = {},
    context?: { outputDir: string },
  ): Promise<void> {
    console.log(\`\${this.greeting}, \${p.name}!\`);
    if (p.out === true && context !== undefined) {
      writeFileSync(path.join(context.outputDir, 'model.txt'), 'weights');
    }
    if (p.sleep !== undefined) await new Promise((resolve) => setTimeout(resolve, p.sleep! * 1000));
  }
}

export function createJob(): PruneJob {
  return new PruneJob(${JSON.stringify(greeting)});
}
`;

describeWithTestbed(testbed, 'ferry prune, on the local engine and on a remote host', () => {
  const project = `cli-prune-${randomBytes(3).toString('hex')}`;
  let root: string;
  let dir: string;
  let local: Dockerode;
  let remote: Dockerode;

  beforeAll(async () => {
    local = new Dockerode({ socketPath: testbed!.localDocker.socketPath });
    remote = new Dockerode({ socketPath: testbed!.remote.dockerSocketPath });
    root = await mkdtemp(path.join(os.tmpdir(), 'ferry-cli-prune-'));
    dir = path.join(root, 'project');
    const init = await ferry(['init', 'project', '--name', project], root);
    expect(init.code, init.stderr).toBe(0);
    await editConfig(dir, (config) => {
      const targets = config.targets as Record<string, Record<string, unknown>>;
      targets.local!.baseImage = testbed!.baseImage;
      targets.testbed = testbedTarget(testbed!);
    });
  }, 60_000);

  afterAll(async () => {
    await cleanEngine(remote, project);
    await cleanEngine(local, project);
    await rm(root, { recursive: true, force: true });
  });

  const record = async (id: string): Promise<RunRecord> =>
    JSON.parse(await readFile(path.join(dir, '.ferry/runs', `${id}.json`), 'utf8')) as RunRecord;

  for (const target of ['local', 'testbed'] as const) {
    it(`on ${target}: keeps the newest, running runs, undownloaded outputs and their images; removes the rest and says so`, async () => {
      const docker = target === 'local' ? local : remote;
      const run = async (...args: string[]): Promise<string> => {
        const result = await ferry(['run', '-q', '-t', target, '-d', ...args], dir);
        expect(result.code, result.stderr).toBe(0);
        return result.stdout.trim();
      };
      const waitEnded = async (id: string): Promise<void> => {
        for (let i = 0; i < 100; i++) {
          const [c] = await docker.listContainers({
            all: true,
            filters: JSON.stringify({ label: [`ferry.run-id=${id}`] }),
          });
          if (c !== undefined && c.State === 'exited') return;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        throw new Error(`run ${id} did not end`);
      };
      await writeFile(path.join(dir, 'src/job.ts'), job('Hello'));
      const old = await run('-p', 'name=old');
      const withOutputs = await run('-p', 'name=outputs', '-p', 'out=true');
      await writeFile(path.join(dir, 'src/job.ts'), job('Hi'));
      const newest = await run('-p', 'name=newest');
      const running = await run('-p', 'name=running', '-p', 'sleep=60');
      for (const id of [old, withOutputs, newest]) await waitEnded(id);
      const images = async (): Promise<Dockerode.ImageInfo[]> =>
        docker.listImages({ filters: JSON.stringify({ label: [`ferry.job=${project}`] }) });
      const imageOf = async (id: string): Promise<Dockerode.ImageInfo> => {
        const [c] = await docker.listContainers({
          all: true,
          filters: JSON.stringify({ label: [`ferry.run-id=${id}`] }),
        });
        return (await images()).find((i) => i.Id === c!.ImageID)!;
      };
      const [v1, v2] = [await imageOf(old), await imageOf(newest)];
      expect(v1!.Id).not.toBe(v2!.Id);
      // An image that is not this project's (the engine is shared: only ours may go).
      const sentinel = `ferry-prune-sentinel-${project}:keep`;
      await docker.getImage(testbed!.baseImage).tag({ repo: sentinel.split(':')[0]!, tag: 'keep' });

      const plan = await ferry(['prune', '-t', target, '--keep', '1', '--dry-run'], dir);
      expect(plan.code, plan.stderr).toBe(0);
      const lines = plan.stdout.trim().split('\n');
      expect(lines.filter((l) => /^would remove (container|image) /.test(l))).toEqual([
        expect.stringMatching(
          new RegExp(
            `^would remove container ferry-${project}-${old} \\(run ${old}, succeeded\\), \\d+(\\.\\d)? (B|KiB)$`,
          ),
        ),
      ]);
      expect(lines).toContainEqual(
        expect.stringMatching(
          new RegExp(
            `^kept container .*\\(run ${withOutputs}, succeeded\\), .*: its outputs were never downloaded \\(ferry outputs ${withOutputs}; or --force drops them\\)$`,
          ),
        ),
      );
      expect(lines).toContainEqual(
        expect.stringMatching(
          new RegExp(`^kept container .*\\(run ${running}, running\\), .*: running$`),
        ),
      );
      expect(lines).toContainEqual(
        expect.stringMatching(
          new RegExp(`\\(run ${newest}, succeeded\\), .*: the newest ended run$`),
        ),
      );
      expect(lines).toContainEqual(
        expect.stringMatching(
          new RegExp(
            `^kept image .* ${v1!.Id.slice(7, 19)}, .*: used by ${withOutputs}, which is kept$`,
          ),
        ),
      );
      expect(lines.at(-1)).toMatch(
        /^would remove 1 container \(.*\) and 0 images \(0 B\) on .* \(dry run: nothing was removed\)$/,
      );
      expect(plan.stdout + plan.stderr).not.toMatch(/\d(\.\d)? ?(MB|kB|GB)\b/);
      // A dry run removes nothing.
      expect(
        await docker.listContainers({
          all: true,
          filters: JSON.stringify({ label: [`ferry.job=${project}`] }),
        }),
      ).toHaveLength(4);

      const pruned = await ferry(['prune', '-t', target, '--keep', '1', '--force'], dir);
      expect(pruned.code, pruned.stderr).toBe(0);
      expect(pruned.stdout).toContain(
        `removed container ferry-${project}-${old} (run ${old}, succeeded)`,
      );
      expect(pruned.stdout).toMatch(
        new RegExp(
          `removed container ferry-${project}-${withOutputs} \\(run ${withOutputs}, succeeded\\), .*: its outputs were never downloaded: dropped \\(--force\\)`,
        ),
      );
      expect(pruned.stdout).toContain(`removed image ${v1!.RepoTags![0]} ${v1!.Id.slice(7, 19)}`);
      const left = await docker.listContainers({
        all: true,
        filters: JSON.stringify({ label: [`ferry.job=${project}`] }),
      });
      expect(left.map((c) => c.Labels['ferry.run-id']).sort()).toEqual([newest, running].sort());
      expect((await images()).map((i) => i.Id)).toEqual([v2!.Id]);
      // Nothing of anyone else's went.
      const tags = (await docker.listImages()).flatMap((i) => i.RepoTags ?? []);
      expect(tags).toContain(sentinel);
      expect(tags).toContain(testbed!.baseImage);
      await docker.getImage(sentinel).remove();

      // The pruned run's record stays, says its container went, and its logs still print.
      expect((await record(old)).containerRemovedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
      const logs = await ferry(['logs', old], dir);
      expect(logs.code, logs.stderr).toBe(0);
      expect(logs.stdout).toContain('Hello, old!');
      const status = await ferry(['status', old], dir);
      expect(status.stdout).toMatch(/container: +\w{12} \(removed by ferry prune at /);
      const outputsStatus = await ferry(['status', withOutputs], dir);
      expect(outputsStatus.stdout).toMatch(
        /outputs: +never downloaded; removed with its container \(ferry prune --force\)/,
      );
      await ferry(['rm', '-f', '--drop-outputs', running], dir);
    }, 480_000);
  }

  it('is refused on an attached target, saying why', async () => {
    const result = await ferry(['prune', '-t', 'attached'], dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'ferry: error: target attached runs jobs in this process: it has no images or containers to prune',
    );
    const keep = await ferry(['prune', '--keep', 'x'], dir);
    expect(keep.code).toBe(2);
    expect(keep.stderr).toContain('prune: --keep expects a whole number (0 or more), got "x"');
  });
});
