/**
 * ~/.ssh/config: what Ferry reads from it (aliases, patterns, HostName, User, Port, IdentityFile
 * tokens, IdentitiesOnly, ProxyJump, Include) and that explicit options win; then a real jump host:
 * two sshds of the test's own, the final one on another loopback address that the jump host is
 * allowed to forward to (PermitOpen), an ssh_config naming the alias.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HostKeyMismatchError,
  HostUnreachableError,
  SshConfigError,
  SshConnection,
  SshDisconnectedError,
  remoteDocker,
} from '../../src/ssh/index.js';
import { resolveRoute } from '../../src/ssh/route.js';
import { requireTestbed, type Testbed } from '../support/testbed.js';
import { disposeOwnSshd, startOwnSshd, type OwnSshd } from './ownSshd.js';

const local = { user: 'me', home: '/home/me' };

describe('ssh_config resolution', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-ssh-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string): string => {
    const file = path.join(dir, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
    return file;
  };

  it('reads an alias: HostName, User, Port, IdentityFile with tokens, IdentitiesOnly', async () => {
    const file = write(
      'basic',
      [
        'Host gpu-box gpu',
        '  HostName 10.0.0.7',
        '  User alice',
        '  Port 2200',
        '  IdentityFile ~/.ssh/id_%h_%r',
        '  IdentityFile /keys/%u@%n:%p',
        '  IdentitiesOnly yes',
        'Host *',
        '  User fallback',
        '  IdentityFile ~/.ssh/id_default',
      ].join('\n'),
    );
    const hops = await resolveRoute({ host: 'gpu', sshConfigPath: file }, local);
    expect(hops).toHaveLength(1);
    expect(hops[0]).toMatchObject({
      alias: 'gpu',
      host: '10.0.0.7',
      port: 2200,
      username: 'alice',
    });
    expect(hops[0]!.credentials.identityFiles).toEqual([
      '/home/me/.ssh/id_10.0.0.7_alice',
      '/keys/me@gpu:2200',
      '/home/me/.ssh/id_default',
    ]);
    expect(hops[0]!.credentials.identitiesOnly).toBe(true);
  });

  it('explicit options win over ssh_config; an unknown host gets the defaults', async () => {
    const file = write('precedence', 'Host gpu\n  HostName 10.0.0.7\n  User alice\n  Port 2200\n');
    const [hop] = await resolveRoute(
      { host: 'gpu', port: 22, username: 'bob', sshConfigPath: file },
      local,
    );
    expect(hop).toMatchObject({ host: '10.0.0.7', port: 22, username: 'bob' });
    const [other] = await resolveRoute({ host: 'elsewhere', sshConfigPath: file }, local);
    expect(other).toMatchObject({ host: 'elsewhere', port: 22, username: 'me' });
  });

  it('honours negated patterns and Include (globbed, relative to the config folder)', async () => {
    write('conf.d/10-gpu.conf', 'Host gpu-*\n  User included\n');
    write('conf.d/20-other.conf', 'Host gpu-a\n  Port 2201\n');
    const file = write(
      'with-include',
      'Host gpu-* !gpu-private\n  HostName %h.cluster.example\nInclude conf.d/*.conf\n',
    );
    const [a] = await resolveRoute({ host: 'gpu-a', sshConfigPath: file }, local);
    expect(a).toMatchObject({ host: 'gpu-a.cluster.example', port: 2201, username: 'included' });
    const [priv] = await resolveRoute({ host: 'gpu-private', sshConfigPath: file }, local);
    expect(priv).toMatchObject({ host: 'gpu-private', username: 'included' });
  });

  it('turns ProxyJump into hops, each looked up in ssh_config; proxyJump "none" goes direct', async () => {
    const file = write(
      'jumps',
      'Host bastion\n  HostName 192.0.2.1\n  User ops\nHost gpu\n  HostName 10.0.0.7\n  ProxyJump bastion,carol@inner:2022\n',
    );
    const hops = await resolveRoute({ host: 'gpu', sshConfigPath: file }, local);
    expect(hops.map((h) => `${h.username}@${h.host}:${h.port}`)).toEqual([
      'ops@192.0.2.1:22',
      'carol@inner:2022',
      'me@10.0.0.7:22',
    ]);
    // A pinned fingerprint is the final host's, never a jump host's.
    const pinned = await resolveRoute(
      { host: 'gpu', sshConfigPath: file, hostKeyFingerprint: 'SHA256:x', knownHostsPath: '/kh' },
      local,
    );
    expect(pinned[0]!.hostKeys).toEqual({ knownHostsPath: '/kh' });
    expect(
      await resolveRoute({ host: 'gpu', sshConfigPath: file, proxyJump: 'none' }, local),
    ).toHaveLength(1);
  });

  it('reads UserKnownHostsFile and HostKeyAlias; knownHostsPath given to Ferry wins', async () => {
    const file = write(
      'known-hosts',
      'Host gpu\n  HostName 10.0.0.7\n  HostKeyAlias gpu-key\n  UserKnownHostsFile ~/.ssh/kh_%h other\n',
    );
    const [hop] = await resolveRoute({ host: 'gpu', sshConfigPath: file }, local);
    expect(hop).toMatchObject({ host: '10.0.0.7', knownHostsName: 'gpu-key' });
    expect(hop!.hostKeys).toEqual({ knownHostsPath: '/home/me/.ssh/kh_10.0.0.7' });
    const [given] = await resolveRoute(
      { host: 'gpu', sshConfigPath: file, knownHostsPath: '/kh' },
      local,
    );
    expect(given!.hostKeys).toEqual({ knownHostsPath: '/kh' });
  });

  it('says what is wrong with a bad value, naming the file and the Host', async () => {
    const file = write('bad-port', 'Host gpu\n  Port 22a\n');
    const error = await resolveRoute({ host: 'gpu', sshConfigPath: file }, local).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SshConfigError);
    expect((error as Error).message).toBe(
      `${file} (Host gpu): Port "22a" is not a port number 1-65535`,
    );
    const loop = write('loop', `Include ${path.join(dir, 'loop')}\n`);
    await expect(resolveRoute({ host: 'gpu', sshConfigPath: loop }, local)).rejects.toThrow(
      /Include nested more than 16 deep/,
    );
    const jump = write('bad-jump', 'Host gpu\n  ProxyJump a b\n');
    await expect(resolveRoute({ host: 'gpu', sshConfigPath: jump }, local)).rejects.toThrow(
      /ProxyJump entry "a b" is not \[user@\]host\[:port\]/,
    );
  });

  it('a missing default file is no config; a missing file that was named is an error', async () => {
    const [hop] = await resolveRoute({ host: 'gpu' }, { user: 'me', home: dir });
    expect(hop).toMatchObject({ host: 'gpu', username: 'me' });
    await expect(
      resolveRoute({ host: 'gpu', sshConfigPath: path.join(dir, 'nope') }, local),
    ).rejects.toBeInstanceOf(SshConfigError);
  });
});

const testbed = requireTestbed('remote');

describe.skipIf(!testbed)('ProxyJump through a real jump host', () => {
  const tb = testbed as Testbed;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-ssh-jump-'));
  let jump: OwnSshd;
  let final: OwnSshd;
  let configPath: string;
  let knownHostsPath: string;
  const FINAL_ADDRESS = '127.0.0.2';

  beforeAll(async () => {
    final = await startOwnSshd(tb, { ListenAddress: FINAL_ADDRESS, LogLevel: 'VERBOSE' });
    jump = await startOwnSshd(tb, {
      AllowTcpForwarding: 'yes',
      // The jump host may forward to the final host, and to itself (for a two-hop chain).
      PermitOpen: `${FINAL_ADDRESS}:${final.port} 127.0.0.1:*`,
    });
    knownHostsPath = path.join(dir, 'known_hosts');
    writeFileSync(
      knownHostsPath,
      [
        `[127.0.0.1]:${jump.port} ${tb.remote.hostPublicKey}`,
        `[${FINAL_ADDRESS}]:${final.port} ${tb.remote.hostPublicKey}`,
      ].join('\n') + '\n',
    );
    mkdirSync(path.join(dir, 'config.d'));
    writeFileSync(
      path.join(dir, 'config.d', 'gpu.conf'),
      `Host gpu-box\n  HostName ${FINAL_ADDRESS}\n  Port ${final.port}\n`,
    );
    configPath = path.join(dir, 'config');
    writeFileSync(
      configPath,
      [
        'Host jump-box',
        '  HostName 127.0.0.1',
        `  Port ${jump.port}`,
        'Host gpu-*',
        '  ProxyJump jump-box',
        'Host twice',
        `  HostName ${FINAL_ADDRESS}`,
        `  Port ${final.port}`,
        '  ProxyJump jump-box,jump-box',
        'Host *',
        '  User root',
        `  IdentityFile ${tb.remote.privateKeyPath}`,
        '  IdentitiesOnly yes',
        'Include config.d/*.conf',
      ].join('\n') + '\n',
    );
  });
  afterAll(async () => {
    await disposeOwnSshd(jump);
    await disposeOwnSshd(final);
    rmSync(dir, { recursive: true, force: true });
  });

  it('connects to an alias through its jump host and reaches the remote engine', async () => {
    const connection = await SshConnection.connect({
      host: 'gpu-box',
      sshConfigPath: configPath,
      knownHostsPath,
      agent: false,
    });
    try {
      expect(connection.target).toBe(`root@${FINAL_ADDRESS}:${final.port}`);
      expect(connection.via).toEqual([`root@127.0.0.1:${jump.port}`]);
      expect(connection.hostKey.trustedBy).toBe(`known_hosts ${knownHostsPath}:2`);
      const docker = remoteDocker(connection, { socketPath: tb.remote.dockerSocketPath });
      expect((await docker.info()).ID).toBe(tb.remote.engineId);
    } finally {
      await connection.close();
    }
  });

  it("uses ssh_config's UserKnownHostsFile and HostKeyAlias for every hop", async () => {
    const aliasedKnownHosts = path.join(dir, 'aliased_known_hosts');
    writeFileSync(
      aliasedKnownHosts,
      `[127.0.0.1]:${jump.port} ${tb.remote.hostPublicKey}\n[final-key]:${final.port} ${tb.remote.hostPublicKey}\n`,
    );
    const aliasedConfig = path.join(dir, 'aliased_config');
    writeFileSync(
      aliasedConfig,
      [
        'Host aliased',
        `  HostName ${FINAL_ADDRESS}`,
        `  Port ${final.port}`,
        '  HostKeyAlias final-key',
        '  ProxyJump jump-box',
        'Host jump-box',
        '  HostName 127.0.0.1',
        `  Port ${jump.port}`,
        'Host *',
        '  User root',
        `  IdentityFile ${tb.remote.privateKeyPath}`,
        `  UserKnownHostsFile ${aliasedKnownHosts}`,
      ].join('\n') + '\n',
    );
    const connection = await SshConnection.connect({
      host: 'aliased',
      sshConfigPath: aliasedConfig,
      agent: false,
    });
    expect(connection.hostKey.trustedBy).toBe(`known_hosts ${aliasedKnownHosts}:2`);
    await connection.close();
  });

  it('goes through two jump hosts (comma-separated ProxyJump)', async () => {
    const connection = await SshConnection.connect({
      host: 'twice',
      sshConfigPath: configPath,
      knownHostsPath,
      agent: false,
    });
    expect(connection.via).toHaveLength(2);
    await connection.close();
  });

  it('the connection dies with its jump host', async () => {
    const connection = await SshConnection.connect({
      host: 'gpu-box',
      sshConfigPath: configPath,
      knownHostsPath,
      agent: false,
    });
    const docker = remoteDocker(connection, { socketPath: tb.remote.dockerSocketPath });
    const pending = docker
      .getContainer('ferry-no-such-container-wait')
      .wait()
      .catch((e: unknown) => e);
    await jump.stop();
    try {
      await new Promise<void>((resolve) =>
        connection.closed ? resolve() : connection.onClose(() => resolve()),
      );
      await expect(docker.ping()).rejects.toBeInstanceOf(SshDisconnectedError);
      expect(await pending).toBeInstanceOf(Error);
    } finally {
      await jump.start();
    }
  });

  it('explicit options win: a port the jump host may not forward to is refused, typed', async () => {
    const error = await SshConnection.connect({
      host: 'gpu-box',
      port: final.port + 1,
      sshConfigPath: configPath,
      knownHostsPath,
      agent: false,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostUnreachableError);
    expect((error as Error).message).toContain(`the jump host root@127.0.0.1:${jump.port}`);
    expect((error as Error).message).toMatch(/PermitOpen/);
  });

  it('refuses a wrong jump host key before any connection to the final host', async () => {
    const otherKey = path.join(dir, 'other_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey]);
    const other = readFileSync(`${otherKey}.pub`, 'utf8').split(/\s+/).slice(0, 2).join(' ');
    const wrong = path.join(dir, 'wrong_known_hosts');
    writeFileSync(
      wrong,
      `[127.0.0.1]:${jump.port} ${other}\n[${FINAL_ADDRESS}]:${final.port} ${tb.remote.hostPublicKey}\n`,
    );
    const finalLogBefore = final.log().length;
    const error = await SshConnection.connect({
      host: 'gpu-box',
      sshConfigPath: configPath,
      knownHostsPath: wrong,
      agent: false,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostKeyMismatchError);
    expect((error as HostKeyMismatchError).port).toBe(jump.port);
    expect((error as Error).message).toContain(`${wrong}:1`);
    // The final host never saw a connection, let alone an authentication.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(final.log().slice(finalLogBefore)).not.toMatch(/Connection from|Accepted/);
    // ...while a successful connection shows in its log (the check above can fail).
    const connection = await SshConnection.connect({
      host: 'gpu-box',
      sshConfigPath: configPath,
      knownHostsPath,
      agent: false,
    });
    await connection.close();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(final.log().slice(finalLogBefore)).toMatch(/Accepted publickey for root/);
  });
});
