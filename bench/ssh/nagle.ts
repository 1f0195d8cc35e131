/**
 * Nagle's algorithm on the SSH socket: small Docker API calls (`/_ping` and `/version` in turn)
 * one after the other, each on its own channel as dockerode makes them, over two open connections,
 * one with `setNoDelay` on (Ferry's default) and one with it off. The calls alternate between the
 * two connections, so a busy moment on the shared machine falls on both alike. Prints p50 and max
 * per setting, how many calls stalled, and the ratio of the p50s. With an RTT, the connections go
 * through a delaying TCP proxy in front of the test bed's sshd (half the RTT each way): that shows
 * how many round trips a call costs, but not Nagle on a real link, since each leg of the proxy is
 * acknowledged on loopback (Nagle waits for an ACK, which the proxy does not delay).
 * Needs the test bed's remote host (`bash scripts/testbed.sh up`).
 *
 *   npx tsx bench/ssh/nagle.ts [calls=30] [rttMs=0]
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type Dockerode from 'dockerode';
import { SshConnection, remoteDocker } from '../../src/ssh/index.js';
import { loadTestbed, remoteSshOptions } from '../../test/support/testbed.js';
import { formatMs, ratio } from '../support.js';

const calls = Number(process.argv[2] ?? 30);
const rttMs = Number(process.argv[3] ?? 0);
const tb = loadTestbed();

const settings = [
  { name: 'setNoDelay on ', noDelay: true },
  { name: 'setNoDelay off', noDelay: false },
] as const;
const proxy =
  rttMs > 0 ? await delayingProxy(tb.remote.host, tb.remote.port, rttMs / 2) : undefined;
const connections = await Promise.all(
  settings.map((s) =>
    SshConnection.connect(
      remoteSshOptions(tb, {
        noDelay: s.noDelay,
        sshConfigPath: false,
        ...(proxy === undefined
          ? {}
          : { port: proxy.port, hostKeyFingerprint: tb.remote.hostKeyFingerprint }),
      }),
    ),
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
  const stall = p50s[0]! + 30;
  console.log(
    `${calls} Docker API calls per setting over one SSH connection each (loopback${rttMs > 0 ? `, ${rttMs} ms RTT through a delaying proxy` : ''}):`,
  );
  for (const [index, setting] of settings.entries()) {
    const list = times[index]!;
    console.log(
      `  ${setting.name}  p50 ${formatMs(p50s[index]!)}  max ${formatMs(Math.max(...list))}  calls over ${formatMs(stall)}: ${list.filter((t) => t > stall).length} of ${calls}`,
    );
  }
  console.log(`  p50, off vs on: ${ratio(p50s[0]!, p50s[1]!)} slower with Nagle`);
} finally {
  await Promise.all(connections.map((c) => c.close()));
  proxy?.server.close();
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

/** A TCP proxy that holds every chunk `oneWayMs` before passing it on, in order, both ways. */
async function delayingProxy(
  host: string,
  port: number,
  oneWayMs: number,
): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer((client) => {
    const upstream = net.connect({ host, port, noDelay: true });
    client.setNoDelay(true);
    const relay = (from: net.Socket, to: net.Socket): void => {
      from.on('data', (chunk) => setTimeout(() => to.write(chunk), oneWayMs));
      from.on('end', () => setTimeout(() => to.end(), oneWayMs));
      from.on('error', () => to.destroy());
    };
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, port: typeof address === 'object' && address !== null ? address.port : 0 };
}
