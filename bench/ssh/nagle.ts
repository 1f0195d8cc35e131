/**
 * Nagle's algorithm on the SSH socket: small Docker API calls (`/_ping` and `/version` in turn)
 * one after the other, each on its own channel as dockerode makes them, over two open connections,
 * one with `setNoDelay` on (Ferry's default) and one with it off. The calls alternate between the
 * two connections, so a busy moment on the shared machine falls on both alike. Prints p50 and max
 * per setting, how many calls stalled, and the ratio of the p50s.
 * Needs the test bed's remote host (`bash scripts/testbed.sh up`).
 *
 *   npx tsx bench/ssh/nagle.ts [calls=30]
 */
import { performance } from 'node:perf_hooks';
import type Dockerode from 'dockerode';
import { SshConnection, remoteDocker } from '../../src/ssh/index.js';
import { loadTestbed, remoteSshOptions } from '../../test/support/testbed.js';
import { formatMs, ratio } from '../support.js';

const calls = Number(process.argv[2] ?? 30);
const tb = loadTestbed();

const settings = [
  { name: 'setNoDelay on ', noDelay: true },
  { name: 'setNoDelay off', noDelay: false },
] as const;
const connections = await Promise.all(
  settings.map((s) =>
    SshConnection.connect(remoteSshOptions(tb, { noDelay: s.noDelay, sshConfigPath: false })),
  ),
);
try {
  const engines = connections.map((c) =>
    remoteDocker(c, { socketPath: tb.remote.dockerSocketPath }),
  );
  // Warm-up: the first channel and request on a connection pay one-time costs.
  for (const docker of engines) await docker.ping();
  const times: number[][] = settings.map(() => []);
  for (let i = 0; i < calls; i += 1) {
    for (const [index, docker] of engines.entries()) {
      times[index]!.push(await timedCall(docker, i));
    }
  }
  const p50s = times.map((list) => percentile(list, 0.5));
  console.log(`${calls} Docker API calls per setting over one SSH connection each (loopback):`);
  for (const [index, setting] of settings.entries()) {
    const list = times[index]!;
    const p50 = p50s[index]!;
    console.log(
      `  ${setting.name}  p50 ${formatMs(p50)}  max ${formatMs(Math.max(...list))}  calls over 40 ms: ${list.filter((t) => t > 40).length} of ${calls}`,
    );
  }
  console.log(`  p50, off vs on: ${ratio(p50s[0]!, p50s[1]!)} slower with Nagle`);
} finally {
  await Promise.all(connections.map((c) => c.close()));
}

async function timedCall(docker: Dockerode, i: number): Promise<number> {
  const started = performance.now();
  if (i % 2 === 0) await docker.ping();
  else await docker.version();
  return performance.now() - started;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}
