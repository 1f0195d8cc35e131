/**
 * Drives the `ferry` command as a user would: `node bin/ferry.mjs …` in a project folder, with
 * stdout and stderr captured (not a terminal, so progress comes as plain lines).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Dockerode from 'dockerode';
import { REPO_ROOT, type Testbed } from '../support/testbed.js';
import { removeMadeHere } from '../support/cleanup.js';

export const FERRY_BIN = path.join(REPO_ROOT, 'bin', 'ferry.mjs');

export interface FerryResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Starts `ferry <args>` in `cwd`; the caller waits on it with `finished`. */
export function spawnFerry(
  args: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): ChildProcess {
  return spawn(process.execPath, [FERRY_BIN, ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function finished(child: ChildProcess): Promise<FerryResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs `ferry <args>` in `cwd` to its end. */
export function ferry(
  args: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): Promise<FerryResult> {
  return finished(spawnFerry(args, cwd, env));
}

/** Edits a project's ferry.config.json. */
export async function editConfig(
  dir: string,
  edit: (config: Record<string, unknown>) => void,
): Promise<void> {
  const file = path.join(dir, 'ferry.config.json');
  const config = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  edit(config);
  await writeFile(file, JSON.stringify(config, null, 2));
}

/** The test bed's remote host as a config target. */
export function testbedTarget(
  testbed: Testbed,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    host: testbed.remote.host,
    port: testbed.remote.port,
    user: testbed.remote.username,
    key: testbed.remote.privateKeyPath,
    knownHosts: testbed.remote.knownHostsPath,
    dockerSocket: testbed.remote.dockerSocketPath,
    baseImage: testbed.baseImage,
    ...extra,
  };
}

/** Removes a project's containers and images from an engine. */
export async function cleanEngine(docker: Dockerode, project: string): Promise<void> {
  await removeMadeHere([docker], { label: [`ferry.job=${project}`] });
}

/** The most runs that overlapped in time, from their start and finish times. */
export function maxConcurrency(
  runs: readonly { startedAt?: string; finishedAt?: string }[],
): number {
  const events: [number, number][] = [];
  for (const run of runs) {
    if (run.startedAt === undefined || run.finishedAt === undefined) continue;
    events.push([Date.parse(run.startedAt), 1], [Date.parse(run.finishedAt), -1]);
  }
  // Ends before starts at the same instant: a run that ended as another started did not overlap it.
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let current = 0;
  let most = 0;
  for (const [, delta] of events) {
    current += delta;
    most = Math.max(most, current);
  }
  return most;
}
