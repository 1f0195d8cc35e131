/**
 * The follower of `bench/logs/run.ts`, in a process of its own so that its peak memory is the cost
 * of following and nothing else: follows a container's logs with `DockerJobRun.followLogs`, checks
 * on the fly that ChattyJob's lines come complete and in order per stream, and writes its figures
 * as JSON to `resultFile`. With `print`, every line also goes to stdout or stderr, as `ferry logs -f`
 * writes them (waiting when the pipe is full).
 *
 *   npx tsx bench/logs/follow.ts <socketPath> <containerId> <count|print> <resultFile>
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import Dockerode from 'dockerode';
import { writeOrWait } from '../../src/cli/output.js';
import { DockerJobRun } from '../../src/routines/docker/dockerJobRun.js';
import type { LogStream } from '../../src/routines/jobExecutor.js';

export interface FollowFigures {
  readonly lines: Record<LogStream, number>;
  /** Lines whose number was not the next one expected on their stream (lost, repeated or moved). */
  readonly outOfOrder: number;
  /** The entry point's own lines (welcome, `Executing job`, `Job completed`), in order. */
  readonly others: string[];
  /** The last line on stdout. */
  readonly lastStdout: string;
  readonly ms: number;
  /** Resident memory before following began, its peak while following (sampled), and the kernel's high-water mark. */
  readonly rssBefore: number;
  readonly rssPeak: number;
  readonly vmHwm: number;
}

const [socketPath, containerId, mode, resultFile] = process.argv.slice(2);
if (socketPath === undefined || containerId === undefined || resultFile === undefined) {
  throw new Error('usage: follow.ts <socketPath> <containerId> <count|print> <resultFile>');
}

const run = new DockerJobRun({
  docker: new Dockerode({ socketPath }),
  runId: 'bench',
  containerId,
});
const lines: Record<LogStream, number> = { stdout: 0, stderr: 0 };
const next: Record<LogStream, number> = { stdout: 1, stderr: 2 };
const others: string[] = [];
let outOfOrder = 0;
let lastStdout = '';
const pattern = /^(?:out|err) (\d+) /;

global.gc?.();
const rssBefore = process.memoryUsage.rss();
let rssPeak = rssBefore;
const sampler = setInterval(() => {
  rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
}, 5);
const start = performance.now();
await run.followLogs({
  onLine: (line, stream) => {
    if (stream === 'stdout') lastStdout = line;
    const held =
      mode === 'print'
        ? writeOrWait(stream === 'stdout' ? process.stdout : process.stderr, `${line}\n`)
        : undefined;
    const match = pattern.exec(line);
    if (match === null) {
      others.push(line);
      return held;
    }
    lines[stream] += 1;
    if (Number(match[1]) !== next[stream]) outOfOrder += 1;
    next[stream] = Number(match[1]) + 2;
    return held;
  },
});
const ms = performance.now() - start;
clearInterval(sampler);
rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
const figures: FollowFigures = {
  lines,
  outOfOrder,
  others,
  lastStdout,
  ms,
  rssBefore,
  rssPeak,
  vmHwm: hwm === null ? 0 : Number(hwm[1]) * 1024,
};
writeFileSync(resultFile, JSON.stringify(figures));
