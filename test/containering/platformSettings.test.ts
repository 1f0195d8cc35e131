/**
 * The image platform and dependency install mode as settings: validated where they are given (a
 * ContaineringTask, a config key), checked against an engine's platform, and part of the host
 * install's cache key. No engine here: the test-bed tests are in platform.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/index.js';
import { containeringFor } from '../../src/config/targets.js';
import { decodeBuildKitTrace } from '../../src/containering/buildkitTrace.js';
import { dependenciesKey } from '../../src/containering/dependencies.js';
import {
  ContaineringTask,
  ImagePlatformError,
  InvalidContaineringTaskError,
} from '../../src/containering/index.js';
import {
  enginePlatformOf,
  platformForEngine,
  supportsBuildKit,
} from '../../src/containering/platform.js';
import { PackagingTask } from '../../src/packaging/index.js';

const packagingTask = new PackagingTask({
  name: 'settings',
  version: '1.0.0',
  payload: { job: {} },
  sourceRoot: import.meta.dirname,
});

describe('ContaineringTask.platform and .dependencies', () => {
  it('takes the two image platforms and the three modes, auto by default', () => {
    const task = new ContaineringTask({ packagingTask, platform: 'linux/arm64' });
    expect(task.platform).toBe('linux/arm64');
    expect(task.dependencies).toBe('auto');
    expect(new ContaineringTask({ packagingTask }).platform).toBeUndefined();
  });

  it('names the field and the values it takes', () => {
    expect(
      () => new ContaineringTask({ packagingTask, platform: 'darwin/arm64' as 'linux/arm64' }),
    ).toThrow(
      new InvalidContaineringTaskError(
        'platform',
        '"darwin/arm64" is not an image platform Ferry builds for; expected "linux/amd64" or "linux/arm64"',
      ),
    );
    expect(() => new ContaineringTask({ packagingTask, dependencies: 'npm' as 'host' })).toThrow(
      /ContaineringTask\.dependencies: "npm" is not a dependency install mode; expected "auto", "host", "image"/,
    );
  });
});

describe('the config keys platform and dependencies', () => {
  const minimal = { project: 'demo', version: '1.0.0', job: 'src/job.ts', sourceRoot: 'src' };
  const FILE = '/project/ferry.config.json';

  it('reach the ContaineringTask of local and remote targets', () => {
    const config = parseConfig(
      JSON.stringify({
        ...minimal,
        targets: {
          local: { type: 'local', dependencies: 'image' },
          gpu: { host: 'gpu-box', platform: 'linux/arm64', dependencies: 'host' },
        },
      }),
      FILE,
    );
    const gpu = config.targets.gpu;
    const local = config.targets.local;
    if (gpu?.type !== 'remote' || local?.type !== 'local') throw new Error('unexpected targets');
    expect(containeringFor(config, gpu)).toMatchObject({
      platform: 'linux/arm64',
      dependencies: 'host',
    });
    expect(containeringFor(config, local)).toMatchObject({ dependencies: 'image' });
    expect(containeringFor(config, local)).not.toHaveProperty('platform');
  });

  it('name the key and the allowed values when a value is wrong', () => {
    let error: unknown;
    try {
      parseConfig(
        JSON.stringify({
          ...minimal,
          targets: { gpu: { host: 'gpu-box', platform: 'linux/386', dependencies: 'npm' } },
        }),
        FILE,
      );
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues.map((i) => `${i.key}: ${i.message}`);
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^targets\.gpu\.platform: .*"linux\/amd64" or "linux\/arm64".*linux\/386/,
        ),
        expect.stringMatching(/^targets\.gpu\.dependencies: .*"auto", "host" or "image".*npm/),
      ]),
    );
  });
});

describe('the platform of a target engine', () => {
  const key = 'targets.gpu.platform';

  it('is the configured one when the engine runs it, else the engine’s', () => {
    expect(platformForEngine('linux/amd64', 'linux/amd64', 'gpu-box', key)).toBe('linux/amd64');
    expect(platformForEngine(undefined, 'linux/arm64', 'gpu-box', key)).toBe('linux/arm64');
    expect(enginePlatformOf({ Os: 'linux', Arch: 'aarch64' })).toBe('linux/arm64');
    expect(enginePlatformOf({ Os: 'linux', Arch: 'amd64' })).toBe('linux/amd64');
  });

  it('is an error naming the key and both platforms when they differ', () => {
    expect(() => platformForEngine('linux/arm64', 'linux/amd64', 'root@gpu-box:22', key)).toThrow(
      ImagePlatformError,
    );
    expect(() => platformForEngine('linux/arm64', 'linux/amd64', 'root@gpu-box:22', key)).toThrow(
      'targets.gpu.platform (ContaineringTask.platform) is linux/arm64, but the Docker engine at root@gpu-box:22 runs linux/amd64 images: set targets.gpu.platform to "linux/amd64"',
    );
    expect(() => platformForEngine(undefined, 'windows/amd64', 'win-box', key)).toThrow(
      /the Docker engine at win-box runs windows\/amd64 images; Ferry builds images for linux\/amd64 and linux\/arm64/,
    );
  });

  it('has BuildKit (and so cache mounts) from API 1.39 on Linux', () => {
    expect(supportsBuildKit({ Os: 'linux', ApiVersion: '1.41' })).toBe(true);
    expect(supportsBuildKit({ Os: 'linux', ApiVersion: '1.38' })).toBe(false);
    expect(supportsBuildKit({ Os: 'windows', ApiVersion: '1.44' })).toBe(false);
  });
});

describe('the host install cache key', () => {
  const esbuild = { esbuild: { range: '^0.28.2', version: '0.28.2' } };

  it('is the image platform’s and C library’s', () => {
    const amd64 = dependenciesKey(esbuild, {}, { platform: 'linux/amd64', libc: 'glibc' });
    const arm64 = dependenciesKey(esbuild, {}, { platform: 'linux/arm64', libc: 'glibc' });
    const musl = dependenciesKey(esbuild, {}, { platform: 'linux/arm64', libc: 'musl' });
    expect(new Set([amd64, arm64, musl]).size).toBe(3);
    expect(dependenciesKey(esbuild, {}, { platform: 'linux/arm64', libc: 'glibc' })).toBe(arm64);
  });
});

describe('BuildKit trace messages', () => {
  it('gives the lines a step printed', () => {
    // A trace the test bed's engine sent for `RUN node -e 'console.log(123)'`.
    const status = decodeBuildKitTrace(
      'Gl8KR3NoYTI1NjplNmQ0YTY1NDE4MzRmNDE4MTlhNDVkMzY2MDhmNjYyMGMzNWIyODIyOTQ5N2VmNDMyN2EyOWU3Mjc1ZTk3MjRkEgwIud682AYQsNTb/gEYASIEMTIzCg==',
    );
    expect(status.logs).toEqual([
      {
        vertex: 'sha256:e6d4a6541834f41819a45d36608f6620c35b28229497ef4327a29e7275e9724d',
        text: '123\n',
      },
    ]);
    expect(() => decodeBuildKitTrace(Buffer.from([0x1a, 0x10, 0x0a]).toString('base64'))).toThrow(
      RangeError,
    );
  });
});
