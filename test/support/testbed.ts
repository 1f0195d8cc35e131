/**
 * The test bed, as the Docker and SSH test suites see it: a typed reader for the JSON that
 * `bash scripts/testbed.sh up` writes, `requireTestbed()`, which decides whether a suite runs, and
 * `describeWithTestbed()` (./describeWithTestbed.ts), which runs a suite's body only when it does.
 *
 *   const testbed = requireTestbed('remote');          // at the top of a test file
 *   describeWithTestbed(testbed, 'remote routine', (tb) => { ... });
 *
 * Under CI=true a missing part is an error (tests fail, never skip); elsewhere the suite is skipped.
 * A file that calls `requireTestbed(` is in the `docker` test project (see vitest.config.ts).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SshConnectionOptions } from '../../src/ssh/sshConnection.js';

import type { ConnectConfig } from 'ssh2';

export interface Testbed {
  /** Where the JSON was read from. */
  readonly file: string;
  readonly localDocker: {
    readonly socketPath: string;
    readonly engineId?: string;
    /** True when `up` started this engine (and `down` will stop it). */
    readonly startedByTestbed?: boolean;
  };
  /** The "remote host": sshd on loopback whose sessions reach a second Docker engine. */
  readonly remote: {
    readonly host: string;
    readonly port: number;
    readonly username: string;
    readonly privateKeyPath: string;
    readonly knownHostsPath: string;
    /** `SHA256:<base64, no padding>`, as `ssh-keygen -l -E sha256` prints it. */
    readonly hostKeyFingerprint: string;
    /** `ssh-ed25519 AAAA…` */
    readonly hostPublicKey?: string;
    /** The second engine's socket: what a session's DOCKER_HOST names (also reachable directly as root). */
    readonly dockerSocketPath: string;
    readonly engineId?: string;
    readonly sshdConfigPath: string;
    readonly sshdPidFile: string;
    readonly bridge?: { readonly name: string; readonly cidr: string };
  };
  readonly registry: {
    /** host:port, usable in image names (`127.0.0.1:5000/ferry/job:1`). */
    readonly address: string;
    readonly url?: string;
    readonly storageDir?: string;
  };
  /** Present on both engines (built from the host's node when it cannot be pulled). */
  readonly baseImage: string;
  readonly baseImageId?: string;
  readonly baseImageBuiltFromHostNode?: boolean;
  /** The base image plus npm and the host's CA bundle, on the local engine: builds on it can `npm ci`. */
  readonly npmBaseImage?: string;
  /** The engines' API version (Debian's docker.io 20.10: 1.41). */
  readonly dockerApiVersion?: string;
  readonly stateDir?: string;
  readonly logsDir?: string;
  /** The swarm: the local engine as manager, worker engines in network namespaces. */
  readonly swarm?: TestbedSwarm;
}

export interface TestbedSwarmWorker {
  /** `worker1`, … (also its node label `ferry.testbed.node`). */
  readonly name: string;
  readonly netns: string;
  /** Its address on the swarm's link. */
  readonly address: string;
  /** Its engine's socket on this machine. */
  readonly socketPath: string;
  readonly nodeId: string;
  readonly engineId: string;
  readonly label: string;
}

export interface TestbedSwarm {
  readonly managerSocketPath: string;
  readonly managerNodeId: string;
  readonly managerAddress: string;
  readonly clusterId: string;
  readonly workers: readonly TestbedSwarmWorker[];
  /** The node label that names each node (`manager`, `worker1`, …): both report hostname `vm`. */
  readonly nodeLabel: string;
  /** A registry every node reaches under this address (TLS, trusted through /etc/docker/certs.d). */
  readonly registry: {
    readonly address: string;
    readonly url: string;
    readonly caPath: string;
    readonly storageDir: string;
  };
  /** The base image in that registry, by digest. */
  readonly baseImage: string;
  readonly bridge: { readonly name: string; readonly cidr: string };
}

/** A part of the test bed a suite needs. The local engine is always checked. */
export type TestbedPart = 'local' | 'remote' | 'registry' | 'baseImage' | 'swarm';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `$FERRY_TESTBED`, else `<repo>/.testbed/testbed.json`. */
export function testbedPath(): string {
  return process.env.FERRY_TESTBED || path.join(REPO_ROOT, '.testbed', 'testbed.json');
}

export class TestbedUnavailableError extends Error {
  constructor(message: string) {
    super(`${message}\n  bring it up with: bash scripts/testbed.sh up   (as root; see its -h)`);
    this.name = 'TestbedUnavailableError';
  }
}

/** Reads and checks the test bed's JSON. Throws TestbedUnavailableError when it is missing or malformed. */
export function loadTestbed(file: string = testbedPath()): Testbed {
  if (!existsSync(file)) throw new TestbedUnavailableError(`no test bed: ${file} does not exist`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new TestbedUnavailableError(`${file} is not JSON: ${(error as Error).message}`);
  }
  const problems: string[] = [];
  const str = (value: unknown, at: string) => {
    if (typeof value !== 'string' || value === '')
      problems.push(`${at} should be a non-empty string`);
  };
  const obj = (value: unknown, at: string): Record<string, unknown> => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
    problems.push(`${at} should be an object`);
    return {};
  };
  const top = obj(raw, '(top)');
  const local = obj(top.localDocker, 'localDocker');
  str(local.socketPath, 'localDocker.socketPath');
  const remote = obj(top.remote, 'remote');
  for (const key of [
    'host',
    'username',
    'privateKeyPath',
    'knownHostsPath',
    'hostKeyFingerprint',
    'dockerSocketPath',
    'sshdConfigPath',
    'sshdPidFile',
  ]) {
    str(remote[key], `remote.${key}`);
  }
  if (!Number.isInteger(remote.port)) problems.push('remote.port should be an integer');
  str(obj(top.registry, 'registry').address, 'registry.address');
  str(top.baseImage, 'baseImage');
  if (top.swarm !== undefined) {
    const swarm = obj(top.swarm, 'swarm');
    for (const key of ['managerSocketPath', 'managerNodeId', 'managerAddress', 'baseImage']) {
      str(swarm[key], `swarm.${key}`);
    }
    str(obj(swarm.registry, 'swarm.registry').address, 'swarm.registry.address');
    if (!Array.isArray(swarm.workers)) problems.push('swarm.workers should be a list');
  }
  if (problems.length > 0) {
    throw new TestbedUnavailableError(
      `${file} is not a test bed description: ${problems.join('; ')}`,
    );
  }
  return { ...(top as unknown as Omit<Testbed, 'file'>), file };
}

/** True when CI=true (or 1/yes): parts that are missing must fail the run, not skip. */
export function isCi(): boolean {
  return ['true', '1', 'yes'].includes((process.env.CI ?? '').toLowerCase());
}

/**
 * For the top of a test file. Loads the test bed and checks that the parts the suite needs answer
 * (the local engine always; then `remote`: the second engine and sshd's banner, `registry`:
 * GET /v2/, `baseImage`: the base image on the local engine, and on the remote one when `remote`
 * is asked for too; `swarm`: the local engine manages a swarm whose workers' engines answer, with
 * at least two workers). Returns the test bed when all answer. Otherwise it throws under CI=true, and
 * returns undefined elsewhere, so that `describe.skipIf(!testbed)` skips the suite.
 */
export function requireTestbed(...needs: TestbedPart[]): Testbed | undefined {
  let testbed: Testbed;
  const problems: string[] = [];
  try {
    testbed = loadTestbed();
    problems.push(...probeTestbed(testbed, needs));
  } catch (error) {
    if (!(error instanceof TestbedUnavailableError)) throw error;
    return unavailable(error);
  }
  if (problems.length === 0) return testbed;
  return unavailable(
    new TestbedUnavailableError(
      `the test bed in ${testbed.file} is not fully up:\n  - ${problems.join('\n  - ')}`,
    ),
  );
}

const warned = new Set<string>();

function unavailable(error: TestbedUnavailableError): undefined {
  if (isCi()) throw error;
  if (!warned.has(error.message)) {
    warned.add(error.message);
    console.warn(`[testbed] skipping the suites that need it (CI would fail): ${error.message}`);
  }
  return undefined;
}

const probeCache = new Map<string, string[]>();

/**
 * Checks, synchronously (vitest collects suites synchronously), that the needed parts answer.
 * Returns one line per problem. The I/O runs in a short-lived child `node`, in parallel.
 */
export function probeTestbed(testbed: Testbed, needs: readonly TestbedPart[] = []): string[] {
  const wanted = new Set<TestbedPart>(['local', ...needs]);
  const checks: ProbeCheck[] = [
    {
      kind: 'ping',
      label: `local engine at ${testbed.localDocker.socketPath}`,
      socketPath: testbed.localDocker.socketPath,
    },
  ];
  if (wanted.has('remote')) {
    checks.push(
      {
        kind: 'ping',
        label: `remote engine at ${testbed.remote.dockerSocketPath}`,
        socketPath: testbed.remote.dockerSocketPath,
      },
      {
        kind: 'ssh',
        label: `sshd at ${testbed.remote.host}:${testbed.remote.port}`,
        host: testbed.remote.host,
        port: testbed.remote.port,
      },
    );
  }
  if (wanted.has('registry')) {
    checks.push({
      kind: 'http',
      label: `registry at http://${testbed.registry.address}/v2/`,
      url: `http://${testbed.registry.address}/v2/`,
    });
  }
  if (wanted.has('baseImage')) {
    const imagePath = `/images/${encodeURIComponent(testbed.baseImage)}/json`;
    checks.push({
      kind: 'get',
      label: `${testbed.baseImage} on the local engine`,
      socketPath: testbed.localDocker.socketPath,
      path: imagePath,
    });
    if (wanted.has('remote')) {
      checks.push({
        kind: 'get',
        label: `${testbed.baseImage} on the remote engine`,
        socketPath: testbed.remote.dockerSocketPath,
        path: imagePath,
      });
    }
  }
  if (wanted.has('swarm')) {
    const swarm = testbed.swarm;
    if (swarm === undefined) {
      return [`${testbed.file} has no swarm part (an older test bed: run scripts/testbed.sh up)`];
    }
    if (swarm.workers.length < 2) {
      return [`the test bed's swarm has ${swarm.workers.length} worker(s) answering, expected 2`];
    }
    // GET /nodes answers 200 on a swarm manager only.
    checks.push({
      kind: 'get',
      label: `swarm manager at ${swarm.managerSocketPath}`,
      socketPath: swarm.managerSocketPath,
      path: '/nodes',
    });
    for (const worker of swarm.workers) {
      checks.push({
        kind: 'ping',
        label: `swarm ${worker.name}'s engine at ${worker.socketPath}`,
        socketPath: worker.socketPath,
      });
    }
  }
  const key = JSON.stringify(checks);
  const cached = probeCache.get(key);
  if (cached) return [...cached];
  const child = spawnSync(process.execPath, ['-e', PROBE_SOURCE, key], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  let problems: string[];
  if (child.status === 0) {
    problems = JSON.parse(child.stdout) as string[];
  } else {
    problems = [`could not probe the test bed: ${child.error?.message ?? child.stderr.trim()}`];
  }
  probeCache.set(key, problems);
  return [...problems];
}

type ProbeCheck =
  | { kind: 'ping'; label: string; socketPath: string }
  | { kind: 'get'; label: string; socketPath: string; path: string }
  | { kind: 'http'; label: string; url: string }
  | { kind: 'ssh'; label: string; host: string; port: number };

// Runs in a child process: `node -e PROBE_SOURCE '<checks as JSON>'`; prints the problems as JSON.
const PROBE_SOURCE = `
const http = require('node:http');
const net = require('node:net');
const checks = JSON.parse(process.argv[1]);
const TIMEOUT = 5000;
function get(options, expectBody) {
  return new Promise((resolve) => {
    const req = http.get({ ...options, timeout: TIMEOUT }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        if (res.statusCode !== 200) resolve('answered HTTP ' + res.statusCode);
        else if (expectBody !== undefined && body.trim() !== expectBody) resolve('answered ' + JSON.stringify(body.slice(0, 80)));
        else resolve(null);
      });
    });
    req.on('timeout', () => req.destroy(new Error('no answer within ' + TIMEOUT + ' ms')));
    req.on('error', (e) => resolve(e.message));
  });
}
function banner(host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let data = '';
    const timer = setTimeout(() => { socket.destroy(); resolve('no SSH banner within ' + TIMEOUT + ' ms'); }, TIMEOUT);
    socket.on('data', (c) => {
      data += c;
      if (data.includes('\\n')) {
        clearTimeout(timer);
        socket.destroy();
        resolve(data.startsWith('SSH-2.0-') ? null : 'not an SSH server: ' + JSON.stringify(data.slice(0, 40)));
      }
    });
    socket.on('error', (e) => { clearTimeout(timer); resolve(e.message); });
  });
}
function run(c) {
  if (c.kind === 'ping') return get({ socketPath: c.socketPath, path: '/_ping' }, 'OK');
  if (c.kind === 'get') return get({ socketPath: c.socketPath, path: c.path });
  if (c.kind === 'http') {
    const u = new URL(c.url);
    return get({ host: u.hostname, port: u.port, path: u.pathname + u.search });
  }
  return banner(c.host, c.port);
}
Promise.all(checks.map(async (c) => { const p = await run(c); return p ? c.label + ': ' + p : null; }))
  .then((r) => process.stdout.write(JSON.stringify(r.filter(Boolean))));
`;

// ---------------------------------------------------------------------------------------------
// Small async helpers for suites that talk to the parts directly (no new dependencies).

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One HTTP request to a Docker engine's unix socket (or, with `url`, to a TCP address). */
export function httpRequest(
  target: { socketPath: string; path: string } | { url: string },
  method = 'GET',
  timeoutMs = 10_000,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const options =
      'url' in target
        ? { method, timeout: timeoutMs }
        : {
            method,
            timeout: timeoutMs,
            socketPath: target.socketPath,
            path: target.path,
            host: 'localhost',
          };
    const callback = (res: import('node:http').IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    };
    const req =
      'url' in target ? request(target.url, options, callback) : request(options, callback);
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** GET a Docker API path on an engine's socket and parse the JSON answer. */
export async function dockerJson<T = unknown>(socketPath: string, apiPath: string): Promise<T> {
  const answer = await httpRequest({ socketPath, path: apiPath });
  if (answer.status !== 200) {
    throw new Error(
      `GET ${apiPath} on ${socketPath}: HTTP ${answer.status} ${answer.body.slice(0, 200)}`,
    );
  }
  return JSON.parse(answer.body) as T;
}

/** `SHA256:…` of a raw SSH public key blob, as OpenSSH prints it. */
export function sshFingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The key blobs known_hosts lists for `[host]:port` (or `host` on port 22). */
export function knownHostKeys(knownHostsPath: string, host: string, port: number): Buffer[] {
  const name = port === 22 ? host : `[${host}]:${port}`;
  const keys: Buffer[] = [];
  for (const line of readFileSync(knownHostsPath, 'utf8').split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 3 || fields[0]!.startsWith('#') || fields[0]!.startsWith('|')) continue;
    if (fields[0]!.split(',').includes(name)) keys.push(Buffer.from(fields[2]!, 'base64'));
  }
  return keys;
}

/**
 * Ferry's SshConnectionOptions for the test bed's remote host: its client key, its known_hosts
 * (host keys always checked), no agent.
 */
export function remoteSshOptions(
  testbed: Testbed,
  overrides: Partial<SshConnectionOptions> = {},
): SshConnectionOptions {
  const { host, port, username, privateKeyPath, knownHostsPath } = testbed.remote;
  return { host, port, username, privateKeyPath, knownHostsPath, agent: false, ...overrides };
}

/**
 * An ssh2 ConnectConfig for the test bed's remote host that checks the host key against its
 * known_hosts (never skips the check).
 */
export function remoteConnectConfig(
  testbed: Testbed,
  overrides: Partial<ConnectConfig> = {},
): ConnectConfig {
  const { host, port, username, privateKeyPath, knownHostsPath } = testbed.remote;
  const known = knownHostKeys(knownHostsPath, host, port);
  return {
    host,
    port,
    username,
    privateKey: readFileSync(privateKeyPath),
    readyTimeout: 15_000,
    hostVerifier: (key: Buffer) => known.some((k) => k.equals(key)),
    ...overrides,
  };
}
