/**
 * `ferry logs` as a user meets it on the local engine and on the remote host: a job's `\r` progress
 * seen while it runs, one line per redraw (the output is a pipe here), no spinner glued to the log
 * text, and `--tail` / `--since` on a live run and on one whose container was pruned.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithTestbed } from '../support/describeWithTestbed.js';
import { requireTestbed } from '../support/testbed.js';
import { cleanEngine, editConfig, ferry, finished, spawnFerry, testbedTarget } from './support.js';

const testbed = requireTestbed('local', 'remote', 'baseImage');

const JOB = `export class ProgressJob {
  async run(): Promise<void> {
    console.log('starting');
    for (let i = 1; i <= 40; i++) {
      process.stdout.write(\`step \${i}/40\\r\`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    console.log('all steps done');
  }
}

export function createJob(): ProgressJob {
  return new ProgressJob();
}
`;

describeWithTestbed(testbed, 'ferry logs: progress redraws, --tail and --since', () => {
  const project = `cli-logs-${randomBytes(3).toString('hex')}`;
  let root: string;
  let dir: string;
  let local: Dockerode;
  let remote: Dockerode;

  beforeAll(async () => {
    local = new Dockerode({ socketPath: testbed!.localDocker.socketPath });
    remote = new Dockerode({ socketPath: testbed!.remote.dockerSocketPath });
    root = await mkdtemp(path.join(os.tmpdir(), 'ferry-cli-logs-'));
    dir = path.join(root, 'project');
    const init = await ferry(['init', 'project', '--name', project], root);
    expect(init.code, init.stderr).toBe(0);
    await writeFile(path.join(dir, 'src/job.ts'), JOB);
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

  for (const target of ['local', 'testbed'] as const) {
    it(`on ${target}: follows \\r progress as it happens, then windows the logs`, async () => {
      const docker = target === 'local' ? local : remote;
      const started = await ferry(['run', '-t', target, '-d'], dir);
      expect(started.code, started.stderr).toBe(0);
      const id = started.stdout.trim();
      const child = spawnFerry(['logs', '-f', '-t', target, id], dir);
      let seen = '';
      child.stdout!.on('data', (chunk: Buffer) => (seen += chunk.toString()));
      const done = finished(child);
      // A redraw is shown while the run still runs, not once its final newline comes.
      let liveAt: string | undefined;
      for (let i = 0; i < 900 && liveAt === undefined; i++) {
        if (/step \d+\/40\n/.test(seen)) {
          const [c] = await docker.listContainers({
            all: true,
            filters: JSON.stringify({ label: [`ferry.run-id=${id}`] }),
          });
          liveAt = c!.State;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(liveAt).toBe('running');
      const followed = await done;
      expect(followed.code, followed.stderr).toBe(0);
      const steps = Array.from({ length: 40 }, (_, i) => `step ${i + 1}/40\n`).join('');
      expect(followed.stdout).toContain(`starting\n${steps}all steps done\n`);
      // Not a terminal: no carriage returns, no spinner, no escape sequences.
      const text = followed.stdout + followed.stderr;
      expect(text).not.toContain('\r');
      expect(text).not.toContain('\u001b[');
      expect(text).not.toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/);

      const tail = await ferry(['logs', '--tail', '2', id], dir);
      expect(tail.code, tail.stderr).toBe(0);
      expect(tail.stdout).toBe(`${steps}all steps done\nJob completed\n`);
      expect(tail.stdout).not.toContain('starting');
      const recent = await ferry(['logs', '--since', '1h', id], dir);
      expect(recent.stdout).toContain('all steps done');
      const future = await ferry(['logs', '--since', '2099-01-01T00:00:00Z', id], dir);
      expect(future.code, future.stderr).toBe(0);
      expect(future.stdout).toBe('');
      const bad = await ferry(['logs', '--since', 'yesterday', id], dir);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain(
        'ferry: error: logs: --since expects a duration back from now (90s, 10m, 1h30m, 2d) or a time (2026-12-01T18:30:00Z, "2026-12-01 18:30"), got "yesterday"',
      );

      // Once its container is pruned, the saved logs answer the same windows.
      const pruned = await ferry(['prune', '-t', target, '--keep', '0', '--containers'], dir);
      expect(pruned.code, pruned.stderr).toBe(0);
      expect(pruned.stdout).toContain(`removed container ferry-${project}-${id}`);
      const savedTail = await ferry(['logs', '--tail', '1', id], dir);
      expect(savedTail.stdout).toBe('Job completed\n');
      const savedSince = await ferry(['logs', '--since', '2099-01-01T00:00:00Z', id], dir);
      expect(savedSince.code, savedSince.stderr).toBe(0);
      expect(savedSince.stdout).toBe('');
      const savedAll = await ferry(['logs', '--since', '1d', id], dir);
      expect(savedAll.stdout).toContain('starting\n');
    }, 480_000);
  }
});
