/**
 * Timeouts, retries and faults on the test bed's real swarm: a retried run is a new task per
 * attempt (placed anew by the swarm), recorded with the node each attempt ran on; a worker engine
 * stopped under a run sends it to another node within its retries. The test stops one WORKER
 * engine of the shared test bed and starts it again with the same command line, and waits for its
 * node to be ready again before it ends. The job runs longer than the engine takes to shut down,
 * so the run cannot simply finish on the node being stopped.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, readlink, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PackagingTask } from '../../src/packaging/index.js';
import { RecordStore } from '../../src/records/store.js';
import { RUN_LABELS } from '../../src/routines/docker/labels.js';
import { SwarmExecutor, type SwarmExecutorFields } from '../../src/routines/swarm/swarmExecutor.js';
import { FailingJob } from '../fixtures/containering/jobs/failingJob.js';
import { ProbeJob } from '../fixtures/containering/jobs/probeJob.js';
import { cleanEngine } from '../cli/support.js';
import { describeWithTestbed } from '../support/describeWithTestbed.js';
import { requireTestbed } from '../support/testbed.js';

const testbed = requireTestbed('local', 'baseImage', 'swarm');
const repo = fileURLToPath(new URL('../../', import.meta.url));
const sourceRoot = path.join(repo, 'test/fixtures/containering/jobs');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describeWithTestbed(testbed, 'swarm: timeouts, retries and a worker engine lost mid-run', (tb) => {
  const swarm = tb.swarm!;
  const name = `swattempt-${randomBytes(3).toString('hex')}`;
  let docker: Dockerode;
  let scratch: string;
  let records: RecordStore;

  beforeAll(async () => {
    docker = new Dockerode({ socketPath: swarm.managerSocketPath });
    scratch = await mkdtemp(path.join(os.tmpdir(), 'ferry-swarm-attempts-'));
    records = new RecordStore(path.join(scratch, 'work', 'runs'));
  });

  afterAll(async () => {
    const filters = JSON.stringify({ label: [`${RUN_LABELS.job}=${name}`] });
    for (const s of await docker.listServices({ filters })) await docker.getService(s.ID).remove();
    await cleanEngine(docker, name);
    await rm(scratch, { recursive: true, force: true });
  });

  function executor(job: unknown, fields: Partial<SwarmExecutorFields> = {}): SwarmExecutor {
    return new SwarmExecutor({
      packagingTask: new PackagingTask({ name, version: '1.0.0', payload: { job }, sourceRoot }),
      manager: { socketPath: swarm.managerSocketPath },
      registry: `${swarm.registry.address}/ferry-test`,
      containering: { imageName: `ferry-test/${name}`, baseImage: tb.baseImage },
      localDocker: docker,
      workDir: path.join(scratch, 'work'),
      cacheDir: path.join(scratch, 'cache'),
      records,
      targetName: 'swarm',
      startTimeoutMs: 60_000,
      ...fields,
    });
  }

  it('a failed run is tried again as a new task; each attempt names its node and keeps its logs', async () => {
    const run = await executor(new FailingJob('on purpose')).execute({ retries: 1 });
    expect(await run.wait()).toMatchObject({ state: 'failed', exitCode: 1 });
    const record = await records.get(run.id);
    expect(record).toMatchObject({ status: 'failed', exitCode: 1, retries: 1 });
    expect(record?.attempts).toHaveLength(2);
    for (const attempt of record!.attempts!) {
      expect(attempt).toMatchObject({ status: 'failed', exitCode: 1 });
      expect(attempt.where).toMatch(/^node vm \(/);
      expect(attempt.taskId).toBeDefined();
    }
    for (const n of [1, 2]) {
      expect((await records.readAttemptLogs(run.id, n))?.stdout).toContain(
        'failing job: about to fail',
      );
    }
  });

  it('a run out of time is stopped by its entry point and recorded timed-out', async () => {
    const run = await executor(new ProbeJob({ message: 'slow', runForMs: 120_000 })).execute({
      timeout: 3,
    });
    expect(await run.wait()).toMatchObject({ state: 'failed', exitCode: 124 });
    expect(await records.get(run.id)).toMatchObject({ status: 'timed-out', timeoutMs: 3000 });
    expect((await run.getLogs()).stdout).toContain('Timed out after 3s');
  });

  it(
    'a worker engine stopped under a run: the run is retried on another node, the records say where',
    { timeout: 240_000 },
    async () => {
      const run = await executor(new ProbeJob({ message: 'long', runForMs: 45_000 }), {
        settings: { constraints: ['node.role==worker'] },
      }).execute({ retries: 2 });
      const record = async () => (await records.get(run.id))!;
      const first = await waitFor(async () => {
        const [task] = (await docker.listTasks({
          filters: JSON.stringify({ service: [`ferry-${name}-${run.id}`] }),
        })) as { NodeID: string; Status: { State: string } }[];
        return task?.Status.State === 'running' ? task.NodeID : undefined;
      }, 60_000);
      const worker = swarm.workers.find((w) => w.nodeId === first);
      expect(worker, `the run's first task is on a worker (${first})`).toBeDefined();
      const engine = await stopEngine(worker!.socketPath, worker!.netns);
      try {
        expect(await run.wait()).toMatchObject({ state: 'exited', exitCode: 0 });
        const attempts = (await record()).attempts ?? [];
        const told = JSON.stringify(attempts, null, 1);
        expect(attempts.length, told).toBeGreaterThanOrEqual(2);
        expect(attempts[0]!.where, told).toContain(first.slice(0, 12));
        expect(attempts[0]!.status, told).not.toBe('succeeded');
        const last = attempts[attempts.length - 1]!;
        expect(last.status, told).toBe('succeeded');
        expect(last.where, told).not.toContain(first.slice(0, 12));
        expect((await record()).status).toBe('succeeded');
      } finally {
        await engine.restart();
      }
    },
  );

  async function waitFor<T>(probe: () => Promise<T | undefined>, ms: number): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error('timed out waiting');
      await sleep(300);
    }
  }

  /**
   * Stops a worker's dockerd (SIGTERM, as a host shutting its engine down) and gives a way to start
   * it again with the command line it had, in its namespace; `restart` waits for its node to be
   * ready again in the swarm.
   */
  async function stopEngine(
    socketPath: string,
    netns: string,
  ): Promise<{ restart(): Promise<void> }> {
    const info = (await new Dockerode({ socketPath }).info()) as { Swarm: { NodeID: string } };
    const pidfile = await findPidfile(socketPath);
    const pid = Number((await readFile(pidfile, 'utf8')).trim());
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
    // The engine's log file (its stdout), which the restarted engine goes on writing to.
    const logFile = await readlink(`/proc/${pid}/fd/1`);
    process.kill(pid, 'SIGTERM');
    await waitFor(async () => (processAlive(pid) ? undefined : true), 60_000);
    return {
      restart: async () => {
        const log = logFile.startsWith('/') ? await open(logFile, 'a') : undefined;
        const child = spawn('nsenter', [`--net=/var/run/netns/${netns}`, ...argv], {
          detached: true,
          stdio: log === undefined ? 'ignore' : ['ignore', log.fd, log.fd],
        });
        child.unref();
        await log?.close();
        await waitFor(
          () =>
            new Dockerode({ socketPath })
              .ping()
              .then(() => true)
              .catch(() => undefined),
          90_000,
        );
        await waitFor(async () => {
          const node = (await docker.getNode(info.Swarm.NodeID).inspect()) as {
            Status: { State: string };
          };
          return node.Status.State === 'ready' ? true : undefined;
        }, 90_000);
      },
    };
  }
});

/** The pidfile a test-bed worker engine was started with (its command line names it). */
async function findPidfile(socketPath: string): Promise<string> {
  const { readdir } = await import('node:fs/promises');
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = await readFile(`/proc/${entry}/cmdline`, 'utf8').then(
      (text) => text.split('\0'),
      () => [] as string[],
    );
    if (!argv[0]?.endsWith('dockerd') || !argv.includes(`unix://${socketPath}`)) continue;
    const at = argv.indexOf('--pidfile');
    if (at >= 0 && argv[at + 1] !== undefined) return argv[at + 1]!;
  }
  throw new Error(`no dockerd serving ${socketPath}`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}
