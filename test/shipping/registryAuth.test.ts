/**
 * Shipping through a registry that wants credentials: a registry of the test's own (Debian's
 * docker-registry with an htpasswd file, on a loopback port), so the test bed's stays open.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RegistryError, shipImage } from '../../src/shipping/index.js';
import { SshConnection, remoteDocker } from '../../src/ssh/index.js';
import { freePort } from '../ssh/ownSshd.js';
import { remoteSshOptions, requireTestbed } from '../support/testbed.js';
import { describeWithTestbed } from '../support/describeWithTestbed.js';
import { buildTinyImage, hasImage, removeImage } from './tinyImages.js';

const testbed = requireTestbed('remote', 'baseImage');

/** A bcrypt hash for htpasswd (the registry accepts bcrypt only), from Python's crypt module. */
function bcrypt(password: string): string | undefined {
  const result = spawnSync(
    'python3',
    [
      '-W',
      'ignore',
      '-c',
      'import crypt,sys; print(crypt.crypt(sys.stdin.read(), crypt.mksalt(crypt.METHOD_BLOWFISH)))',
    ],
    { input: password, encoding: 'utf8' },
  );
  return result.status === 0 && result.stdout.startsWith('$2') ? result.stdout.trim() : undefined;
}

const password = `pw-${randomBytes(8).toString('hex')}`;
const hash = existsSync('/usr/bin/docker-registry') ? bcrypt(password) : undefined;

describeWithTestbed(
  testbed,
  'shipping through a registry with credentials',
  (tb) => {
    const local = new Dockerode({ socketPath: tb.localDocker.socketPath });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-registry-'));
    const repo = `ferry-auth-test-${randomBytes(3).toString('hex')}`;
    const created: string[] = [];
    let registry: ChildProcess | undefined;
    let address: string;
    let connection: SshConnection;
    let remote: Dockerode;

    beforeAll(async () => {
      const port = await freePort();
      address = `127.0.0.1:${port}`;
      writeFileSync(path.join(dir, 'htpasswd'), `ferry:${hash}\n`);
      writeFileSync(
        path.join(dir, 'config.yml'),
        [
          'version: 0.1',
          'log: { level: error }',
          `storage: { filesystem: { rootdirectory: ${path.join(dir, 'data')} } }`,
          `http: { addr: "${address}" }`,
          `auth: { htpasswd: { realm: ferry-test, path: ${path.join(dir, 'htpasswd')} } }`,
          '',
        ].join('\n'),
      );
      registry = spawn('/usr/bin/docker-registry', ['serve', path.join(dir, 'config.yml')], {
        stdio: 'ignore',
      });
      const deadline = Date.now() + 10_000;
      for (;;) {
        const answer = await fetch(`http://${address}/v2/`).then(
          (r) => r.status,
          () => 0,
        );
        if (answer === 401) break;
        if (Date.now() > deadline) throw new Error(`own registry at ${address} did not start`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      connection = await SshConnection.connect(
        remoteSshOptions(tb, { hostKeyFingerprint: tb.remote.hostKeyFingerprint }),
      );
      remote = remoteDocker(connection, { socketPath: tb.remote.dockerSocketPath });
    });

    afterAll(async () => {
      for (const image of created) {
        await removeImage(local, image);
        if (remote !== undefined) await removeImage(remote, image);
      }
      await connection?.close();
      registry?.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    });

    async function build(tag: string): Promise<string> {
      const reference = `${repo}:${tag}`;
      created.push(reference, `${address}/team/${reference}`);
      await buildTinyImage(local, reference, tb.baseImage, [
        { name: 'auth.txt', contents: `${tag} ${repo}` },
      ]);
      return reference;
    }

    it('pushes and pulls with the credentials given', async () => {
      const image = await build('good');
      const result = await shipImage({
        local,
        remote,
        image,
        repository: `${address}/team`,
        registryAuth: { username: 'ferry', password },
      });
      expect(result.method).toBe('registry');
      expect(result.registryReference).toBe(`${address}/team/${image}`);
      expect(await hasImage(remote, image)).toBe(true);
    });

    it('says the registry refused the credentials, without echoing them', async () => {
      const wrong = `not-${password}`;
      for (const registryAuth of [{ username: 'ferry', password: wrong }, undefined]) {
        const image = await build(registryAuth === undefined ? 'anonymous' : 'refused');
        const error = await shipImage({
          local,
          remote,
          image,
          repository: `${address}/team`,
          ...(registryAuth === undefined ? {} : { registryAuth }),
        }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(RegistryError);
        expect((error as RegistryError).operation).toBe('push');
        expect((error as Error).message).toMatch(/check registryAuth/);
        expect((error as Error).message).not.toContain(wrong);
        expect(await hasImage(remote, image)).toBe(false);
      }
    });
  },
  hash === undefined ? 'needs docker-registry and a bcrypt hash from python3 crypt' : undefined,
);
