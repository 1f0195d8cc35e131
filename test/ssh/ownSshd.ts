/**
 * A short-lived sshd of a test's own, configured like the test bed's (same host key, authorized keys
 * and DOCKER_HOST) but on another port, so a test can stop it without disturbing other suites.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Testbed } from '../support/testbed.js';

export interface OwnSshd {
  readonly port: number;
  readonly configPath: string;
  /** Kills the listener and every session process it forked (a running transfer is cut). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** What sshd has logged so far (stderr, `-e`), across restarts. */
  log(): string;
  /** SIGSTOPs the listener and its sessions: TCP stays up, nothing answers (a hung host). */
  pause(): void;
  /** SIGCONTs what pause() stopped. */
  resume(): void;
}

/** A free loopback port (bound, then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        resolve(typeof address === 'object' && address !== null ? address.port : 0),
      );
    });
  });
}

/**
 * Starts sshd with the test bed's config, except Port, PidFile, and the `overrides` given (lines
 * whose first word matches are replaced; new ones are appended).
 */
export async function startOwnSshd(
  testbed: Testbed,
  overrides: Readonly<Record<string, string>> = {},
): Promise<OwnSshd> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-sshd-'));
  // Readable by any user sshd may log in as (the test bed's own folder is root's only).
  chmodSync(dir, 0o755);
  const authorizedKeys = path.join(dir, 'authorized_keys');
  copyFileSync(
    readFileSync(testbed.remote.sshdConfigPath, 'utf8').match(
      /^AuthorizedKeysFile\s+(\S+)/m,
    )?.[1] ?? '',
    authorizedKeys,
  );
  chmodSync(authorizedKeys, 0o644);
  const port = await freePort();
  const listenAddress = overrides.ListenAddress ?? '127.0.0.1';
  const settings: Record<string, string> = {
    AuthorizedKeysFile: authorizedKeys,
    ...overrides,
    Port: String(port),
    PidFile: path.join(dir, 'sshd.pid'),
  };
  const lines = readFileSync(testbed.remote.sshdConfigPath, 'utf8')
    .split('\n')
    .filter((line) => !(line.trim().split(/\s+/)[0]! in settings));
  for (const [key, value] of Object.entries(settings)) lines.push(`${key} ${value}`);
  const configPath = path.join(dir, 'sshd_config');
  writeFileSync(configPath, `${lines.join('\n')}\n`);

  let child: ChildProcess | undefined;
  let output = '';
  const start = async (): Promise<void> => {
    const started = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', configPath], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child = started;
    let stderr = '';
    started.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      output += chunk.toString();
    });
    const deadline = Date.now() + 10_000;
    while (!(await answers(listenAddress, port))) {
      if (started.exitCode !== null || Date.now() > deadline) {
        throw new Error(`own sshd on port ${port} did not start: ${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const stop = async (): Promise<void> => {
    const listener = child;
    if (listener?.pid === undefined || listener.exitCode !== null) return;
    // The sessions are forked children of the listener: end them too, by their pids (a stopped
    // process dies of SIGKILL too).
    for (const pid of descendants(listener.pid)) killQuietly(pid);
    listener.kill('SIGKILL');
    await new Promise<void>((resolve) => {
      if (listener.exitCode !== null || listener.signalCode !== null) resolve();
      else listener.once('exit', () => resolve());
    });
    for (const pid of descendants(listener.pid)) killQuietly(pid);
  };
  const signalAll = (signal: NodeJS.Signals): void => {
    const listener = child;
    if (listener?.pid === undefined || listener.exitCode !== null) return;
    for (const pid of [listener.pid, ...descendants(listener.pid)]) signalQuietly(pid, signal);
  };
  await start();
  return {
    port,
    configPath,
    start,
    log: () => output,
    pause: () => signalAll('SIGSTOP'),
    resume: () => signalAll('SIGCONT'),
    stop: async () => {
      await stop();
    },
  };
}

/** Stops it and removes its folder. */
export async function disposeOwnSshd(sshd: OwnSshd | undefined): Promise<void> {
  if (sshd === undefined) return;
  await sshd.stop();
  rmSync(path.dirname(sshd.configPath), { recursive: true, force: true });
}

async function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('data', (data: Buffer) => {
      socket.destroy();
      resolve(data.toString('latin1').startsWith('SSH-'));
    });
    socket.once('error', () => resolve(false));
  });
}

/** Pids of every process under `pid`, from /proc. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // exited meanwhile
      throw error;
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = parents.get(ppid) ?? [];
    list.push(Number(entry));
    parents.set(ppid, list);
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.shift()!;
    for (const child of parents.get(next) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

function killQuietly(pid: number): void {
  signalQuietly(pid, 'SIGKILL');
}

function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}
