/**
 * A run served from cache beside the run it comes from: the same job and parameters twice with
 * `execute({ cache: true })`, then `result()`, on the local engine and on the test bed's remote
 * host. The first run packages, builds, ships and runs (a job that works `seconds` and returns a
 * Float32Array of `size` items); the second packages to learn its key, finds the first run, and
 * fetches its result. Prints each time and the second as a fraction of the first. Needs the test
 * bed (`bash scripts/testbed.sh up`).
 *
 *   npx tsx bench/cache/run.ts [seconds=5] [size=1000000]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Dockerode from 'dockerode';
import { PackagingTask } from '../../src/packaging/index.js';
import { RUN_LABELS } from '../../src/routines/docker/labels.js';
import type { JobExecutor } from '../../src/routines/jobExecutor.js';
import { LocalDockerExecutor } from '../../src/routines/localDockerExecutor.js';
import { RemoteDockerExecutor } from '../../src/routines/remoteDockerExecutor.js';
import type { CacheEvent } from '../../src/memo/index.js';
import { SshConnection, remoteDocker } from '../../src/ssh/index.js';
import { loadTestbed, remoteSshOptions } from '../../test/support/testbed.js';
import { formatMs, timed } from '../support.js';
import { SlowJob } from './jobs/job.js';
import { removeMadeHere } from '../../test/support/cleanup.js';

const seconds = Number(process.argv[2] ?? 5);
const size = Number(process.argv[3] ?? 1_000_000);
const tb = loadTestbed();
const local = new Dockerode({ socketPath: tb.localDocker.socketPath });
const work = await mkdtemp(path.join(tmpdir(), 'ferry-bench-cache-'));
const jobName = `bench-cache-${process.pid}`;
const sourceRoot = fileURLToPath(new URL('./jobs', import.meta.url));
const closers: (() => Promise<void>)[] = [];

const fields = () => ({
  packagingTask: new PackagingTask({
    name: jobName,
    version: '1.0.0',
    payload: { job: new SlowJob(seconds, size) },
    sourceRoot,
  }),
  containering: { imageName: `ferry-bench/${jobName}`, baseImage: tb.baseImage },
  localDocker: local,
  workDir: path.join(work, 'work'),
  cacheDir: path.join(work, 'cache'),
});

const places: Record<string, () => JobExecutor> = {
  local: () => new LocalDockerExecutor({ ...fields(), docker: local, targetName: 'local' }),
  remote: () => {
    const executor = new RemoteDockerExecutor({
      ...fields(),
      ssh: remoteSshOptions(tb),
      dockerSocketPath: tb.remote.dockerSocketPath,
      targetName: 'remote',
    });
    closers.push(() => executor.close());
    return executor;
  },
};

/** execute({ cache }) then result(): what a user waits for, and the part execute() took. */
async function once(
  make: () => JobExecutor,
): Promise<{ ms: number; executeMs: number; event: CacheEvent | undefined }> {
  let event: CacheEvent | undefined;
  let executeMs = 0;
  const { ms } = await timed(async () => {
    const executed = await timed(() =>
      make().execute({
        cache: true,
        wait: true,
        parameters: { seed: 3 },
        onCache: (e) => {
          event = e;
        },
      }),
    );
    executeMs = executed.ms;
    await executed.result.result();
  });
  return { ms, executeMs, event };
}

console.log(
  `a job that works ${seconds} s and returns a ${((size * 4) / 1e6).toFixed(1)} MB Float32Array; execute({ cache: true }) + result()`,
);
try {
  for (const [place, make] of Object.entries(places)) {
    const first = await once(make);
    const second = await once(make);
    if (second.event?.kind !== 'hit') {
      throw new Error(
        `${place}: the second run was not served from cache (${JSON.stringify(second.event)})`,
      );
    }
    console.log(
      `${place.padEnd(7)} first ${formatMs(first.ms).padStart(9)}   cached ${formatMs(second.ms).padStart(9)} (execute ${formatMs(second.executeMs)}, result ${formatMs(second.ms - second.executeMs)})   cached/first ${(second.ms / first.ms).toFixed(3)}`,
    );
  }
} finally {
  for (const close of closers) await close();
  const inspector = await SshConnection.connect(remoteSshOptions(tb));
  const remote = remoteDocker(inspector, { socketPath: tb.remote.dockerSocketPath });
  await removeMadeHere([local, remote], { label: [`${RUN_LABELS.job}=${jobName}`] });
  await inspector.close();
  await rm(work, { recursive: true, force: true });
}
