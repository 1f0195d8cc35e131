/**
 * Docker API version negotiation: the choice (pure), and against the test bed's real engines
 * (Docker 20.10, API 1.41), locally and over SSH.
 */
import Dockerode from 'dockerode';
import { describe, expect, it } from 'vitest';
import {
  chooseApiVersion,
  negotiateApiVersion,
  negotiatedApiVersion,
} from '../../src/engines/dockerApi.js';
import { openLocalEngine, openSshEngine } from '../../src/engines/engine.js';
import { DockerApiVersionError } from '../../src/engines/errors.js';
import { describeWithTestbed } from '../support/describeWithTestbed.js';
import { remoteSshOptions, requireTestbed } from '../support/testbed.js';

describe('chooseApiVersion', () => {
  const ferry = { min: '1.41', max: '1.52' };
  it('takes the highest version both speak, Docker 20.10 to 29 and beyond', () => {
    const engine = (version: string, apiVersion: string, minApiVersion: string) =>
      chooseApiVersion({ version, apiVersion, minApiVersion }, 'gpu-box', ferry);
    expect(engine('20.10.24', '1.41', '1.12')).toBe('1.41');
    expect(engine('24.0.7', '1.43', '1.12')).toBe('1.43');
    expect(engine('25.0.0', '1.44', '1.24')).toBe('1.44');
    expect(engine('29.0.0', '1.52', '1.44')).toBe('1.52');
    expect(engine('31.0.0', '1.55', '1.44')).toBe('1.52');
    // 1.9 < 1.41: compared as numbers, not text.
    expect(engine('30.0.0', '1.100', '1.44')).toBe('1.52');
  });

  it('names the engine and the versions when there is no common one', () => {
    expect(() =>
      chooseApiVersion(
        { version: '19.03.15', apiVersion: '1.40', minApiVersion: '1.12' },
        'root@gpu-box:22',
        ferry,
      ),
    ).toThrow(
      new DockerApiVersionError(
        'the Docker engine at root@gpu-box:22 (Docker 19.03.15) speaks API 1.12 to 1.40; Ferry needs API 1.41 (Docker 20.10) or newer: upgrade Docker there',
      ),
    );
    expect(() =>
      chooseApiVersion(
        { version: '40.0.0', apiVersion: '1.70', minApiVersion: '1.60' },
        'unix:///var/run/docker.sock',
        ferry,
      ),
    ).toThrow(/accepts API 1\.60 or newer; this Ferry speaks up to 1\.52: upgrade Ferry/);
  });
});

const testbed = requireTestbed('remote');

describeWithTestbed(testbed, 'API version negotiation with the test bed engines', (tb) => {
  it('the local engine: its client speaks 1.41 after opening, and calls work', async () => {
    const engine = await openLocalEngine({ socketPath: tb.localDocker.socketPath });
    expect(engine.api?.apiVersion).toBe(tb.dockerApiVersion ?? '1.41');
    expect(engine.api?.chosen).toBe(tb.dockerApiVersion ?? '1.41');
    expect((engine.docker.modem as { version?: string }).version).toBe(`v${engine.api?.chosen}`);
    expect((await engine.docker.info()).ID).toBeTruthy();
  });

  it('the remote engine over SSH, asked once per client', async () => {
    const engine = await openSshEngine({
      ssh: remoteSshOptions(tb, { hostKeyFingerprint: tb.remote.hostKeyFingerprint }),
      socketPath: tb.remote.dockerSocketPath,
    });
    try {
      expect(engine.api?.chosen).toBe(tb.dockerApiVersion ?? '1.41');
      expect(negotiatedApiVersion(engine.docker)).toBe(engine.api);
      const calls: string[] = [];
      const modem = engine.docker.modem as unknown as {
        dial: (o: { path?: string }, c: unknown) => void;
      };
      const dial = modem.dial.bind(modem);
      modem.dial = (o, c) => {
        calls.push(o.path ?? '');
        dial(o, c);
      };
      expect(await negotiateApiVersion(engine.docker)).toBe(engine.api);
      await engine.docker.listImages();
      modem.dial = dial;
      // No second /version: the call goes out under the negotiated version (docker-modem prefixes it).
      expect(calls).toEqual(['/images/json?']);
      expect((engine.docker.modem as { version?: string }).version).toBe(`v${engine.api?.chosen}`);
    } finally {
      await engine.close();
    }
  });

  it('a client made elsewhere is negotiated on first use', async () => {
    const docker = new Dockerode({ socketPath: tb.localDocker.socketPath });
    expect(negotiatedApiVersion(docker)).toBeUndefined();
    const api = await negotiateApiVersion(docker);
    expect(api.engineVersion).toMatch(/^20\.10\./);
    expect(Number(api.minApiVersion.split('.')[1])).toBeLessThanOrEqual(41);
  });
});
