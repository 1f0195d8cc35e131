import { describe, expect, it } from 'vitest';
import {
  InvalidDockerOptionsError,
  MissingEnvironmentVariableError,
} from '../../src/routines/errors.js';
import {
  DockerOptions,
  parseMemory,
  resolveEnvironment,
  toHostConfig,
} from '../../src/routines/dockerOptions.js';

describe('DockerOptions', () => {
  it('defaults to waiting and keeping the container', () => {
    const options = new DockerOptions();
    expect(options.wait).toBe(true);
    expect(options.removeContainer).toBe(false);
    expect(toHostConfig(options)).toEqual({});
  });

  it('maps mounts, CPU and memory limits to HostConfig', () => {
    const options = new DockerOptions({
      mounts: [
        { hostPath: '/data', containerPath: '/in', readOnly: true },
        { hostPath: '/out', containerPath: '/out' },
      ],
      cpuLimit: 1.5,
      memoryLimit: '2g',
    });
    expect(toHostConfig(options)).toEqual({
      Mounts: [
        { Type: 'bind', Source: '/data', Target: '/in', ReadOnly: true },
        { Type: 'bind', Source: '/out', Target: '/out', ReadOnly: false },
      ],
      NanoCpus: 1_500_000_000,
      Memory: 2 * 1024 ** 3,
    });
  });

  it('maps GPUs to device requests', () => {
    const all = toHostConfig(new DockerOptions({ gpus: 'all' }));
    expect(all.DeviceRequests).toEqual([{ Driver: '', Count: -1, Capabilities: [['gpu']] }]);
    const two = toHostConfig(new DockerOptions({ gpus: 2 }));
    expect(two.DeviceRequests).toEqual([{ Driver: '', Count: 2, Capabilities: [['gpu']] }]);
    const ids = toHostConfig(new DockerOptions({ gpus: ['0', 'GPU-abc'] }));
    expect(ids.DeviceRequests).toEqual([
      { Driver: '', DeviceIDs: ['0', 'GPU-abc'], Capabilities: [['gpu']] },
    ]);
  });

  it('parses memory sizes', () => {
    expect(parseMemory(1024)).toBe(1024);
    expect(parseMemory('512m')).toBe(512 * 1024 ** 2);
    expect(parseMemory('1.5G')).toBe(1.5 * 1024 ** 3);
    expect(parseMemory('100')).toBe(100);
    for (const bad of ['2x', '', '-1g', 'g']) {
      expect(() => parseMemory(bad)).toThrow(InvalidDockerOptionsError);
    }
    expect(() => parseMemory(1.5)).toThrow(/memoryLimit/);
  });

  it('refuses malformed fields with the field named', () => {
    expect(() => new DockerOptions({ cpuLimit: 0 })).toThrow(/DockerOptions.cpuLimit/);
    expect(() => new DockerOptions({ gpus: 0 })).toThrow(/DockerOptions.gpus/);
    expect(() => new DockerOptions({ gpus: [] })).toThrow(/DockerOptions.gpus/);
    expect(() => new DockerOptions({ mounts: [{ hostPath: 'rel', containerPath: '/x' }] })).toThrow(
      /mounts\[0\]: hostPath "rel"/,
    );
    expect(() => new DockerOptions({ propagatedEnvironmentVariables: ['A=B'] })).toThrow(
      /propagatedEnvironmentVariables/,
    );
  });

  it('reads propagated variables when asked, naming a missing one', () => {
    const options = new DockerOptions({ propagatedEnvironmentVariables: ['TOKEN', 'REGION'] });
    expect(resolveEnvironment(options, { TOKEN: 's3cret', REGION: '' })).toEqual([
      'TOKEN=s3cret',
      'REGION=',
    ]);
    expect(() => resolveEnvironment(options, { TOKEN: 'x' })).toThrow(
      MissingEnvironmentVariableError,
    );
    expect(() => resolveEnvironment(options, { TOKEN: 'x' })).toThrow(/REGION/);
  });
});
