/** What a container says about its run: status, labels and the record rebuilt from them. */
import type Dockerode from 'dockerode';
import { describe, expect, it } from 'vitest';
import { isFinal, statusOfState } from '../../src/records/index.js';
import { recordFromContainer, toStatus } from '../../src/routines/docker/containerState.js';
import {
  RUN_LABELS,
  containerName,
  labelFilter,
  runContainerLabels,
} from '../../src/routines/docker/labels.js';

describe('container state → run status', () => {
  const base = {
    Status: 'exited',
    Running: false,
    Paused: false,
    Restarting: false,
    OOMKilled: false,
    Dead: false,
    Pid: 0,
    ExitCode: 0,
    Error: '',
    StartedAt: '2024-01-01T00:00:00Z',
    FinishedAt: '2024-01-01T00:01:00Z',
  };

  it('maps exit codes to exited, failed and stopped', () => {
    expect(toStatus('r', { State: base, Name: '/ferry-j-r' })).toEqual({
      runId: 'r',
      state: 'exited',
      exitCode: 0,
      startedAt: new Date('2024-01-01T00:00:00Z'),
      finishedAt: new Date('2024-01-01T00:01:00Z'),
    });
    expect(toStatus('r', { State: { ...base, ExitCode: 1 }, Name: '/ferry-j-r' }).state).toBe(
      'failed',
    );
    // Killed by a signal nobody asked Ferry for: a failure, not a stop.
    expect(toStatus('r', { State: { ...base, ExitCode: 143 }, Name: '/ferry-j-r' }).state).toBe(
      'failed',
    );
    expect(toStatus('r', { State: { ...base, ExitCode: 137 }, Name: '/ferry-j-r' }).state).toBe(
      'failed',
    );
    // Stopped by Ferry: the container carries the stop suffix.
    const stopped = '/ferry-j-r.stop-requested';
    expect(toStatus('r', { State: { ...base, ExitCode: 143 }, Name: stopped }).state).toBe(
      'stopped',
    );
    expect(toStatus('r', { State: { ...base, ExitCode: 137 }, Name: stopped }).state).toBe(
      'stopped',
    );
    expect(toStatus('r', { State: { ...base, ExitCode: 1 }, Name: stopped }).state).toBe('failed');
    expect(
      toStatus('r', { State: { ...base, ExitCode: 137, OOMKilled: true }, Name: '/ferry-j-r' })
        .state,
    ).toBe('failed');
  });

  it('reports running and created runs without an exit code or end', () => {
    const running = toStatus('r', {
      State: { ...base, Status: 'running', Running: true, FinishedAt: '0001-01-01T00:00:00Z' },
      Name: '/ferry-j-r',
    });
    expect(running).toEqual({ runId: 'r', state: 'running', startedAt: new Date(base.StartedAt) });
    const created = toStatus('r', {
      State: {
        ...base,
        Status: 'created',
        StartedAt: '0001-01-01T00:00:00Z',
        FinishedAt: '0001-01-01T00:00:00Z',
      },
      Name: '/ferry-j-r',
    });
    expect(created).toEqual({ runId: 'r', state: 'created' });
  });
});

describe('run labels and names', () => {
  it('names and labels a run', () => {
    expect(containerName('titanic', '20240101-000000-abcdef')).toBe(
      'ferry-titanic-20240101-000000-abcdef',
    );
    expect(
      runContainerLabels(
        { name: 'j', version: '1.0.0', uid: 'j-1.0.0-x', runId: 'r1' },
        { target: 'local', parameters: { lr: 0.1 }, createdAt: new Date('2026-01-01T00:00:00Z') },
        { 'ferry.run-id': 'forged', mine: 'yes' },
      ),
    ).toEqual({
      mine: 'yes',
      'ferry.role': 'run',
      'ferry.target': 'local',
      'ferry.parameters': '{"lr":0.1}',
      'ferry.created-at': '2026-01-01T00:00:00.000Z',
      'ferry.job': 'j',
      'ferry.version': '1.0.0',
      'ferry.uid': 'j-1.0.0-x',
      'ferry.run-id': 'r1',
    });
    expect(JSON.parse(labelFilter({ 'ferry.run-id': 'r1', 'ferry.sweep': true }))).toEqual({
      label: ['ferry.run-id=r1', 'ferry.sweep'],
    });
  });
});

describe('records on container labels', () => {
  const labels = {
    ...runContainerLabels(
      { name: 'demo', version: '1.0.0', uid: 'demo-1.0.0-abc', runId: 'r1' },
      {
        target: 'gpu-box',
        parameters: { lr: 0.1 },
        createdAt: new Date('2026-01-01T00:00:00Z'),
        sweepId: 'sweep-1',
        sweepIndex: 3,
      },
    ),
  };
  const info = (state: Partial<Dockerode.ContainerInspectInfo['State']>, name = '/ferry-demo-r1') =>
    ({
      Id: 'c0ffee',
      Name: name,
      Created: '2026-01-01T00:00:01Z',
      Image: 'sha256:1234',
      Config: { Labels: labels, Image: 'ferry/demo:1.0.0-x' },
      State: {
        Status: 'exited',
        Running: false,
        ExitCode: 0,
        OOMKilled: false,
        StartedAt: '2026-01-01T00:00:02Z',
        FinishedAt: '2026-01-01T00:00:05Z',
        ...state,
      },
    }) as unknown as Dockerode.ContainerInspectInfo;

  it('rebuilds a run record from a container', () => {
    expect(
      recordFromContainer(info({}), {
        targetKind: 'remote',
        targetName: 'fallback',
        host: 'root@h:22',
      }),
    ).toEqual({
      id: 'r1',
      job: 'demo',
      version: '1.0.0',
      uid: 'demo-1.0.0-abc',
      target: 'gpu-box',
      targetKind: 'remote',
      host: 'root@h:22',
      parameters: { lr: 0.1 },
      status: 'succeeded',
      exitCode: 0,
      createdAt: '2026-01-01T00:00:00.000Z',
      startedAt: '2026-01-01T00:00:02.000Z',
      finishedAt: '2026-01-01T00:00:05.000Z',
      sweepId: 'sweep-1',
      sweepIndex: 3,
      image: 'ferry/demo:1.0.0-x',
      imageId: 'sha256:1234',
      containerId: 'c0ffee',
    });
    expect(labels[RUN_LABELS.role]).toBe('run');
  });

  it('maps container states to run statuses', () => {
    const status = (state: Partial<Dockerode.ContainerInspectInfo['State']>, name?: string) =>
      recordFromContainer(info(state, name), { targetKind: 'local', targetName: 'local' })?.status;
    expect(status({ ExitCode: 1 })).toBe('failed');
    expect(status({ ExitCode: 143 })).toBe('failed');
    expect(status({ ExitCode: 143 }, '/ferry-demo-r1.stop-requested')).toBe('stopped');
    expect(status({ ExitCode: 137, OOMKilled: true })).toBe('failed');
    expect(status({ Status: 'running', Running: true })).toBe('running');
    expect(status({ Status: 'created', StartedAt: '0001-01-01T00:00:00Z' })).toBe('queued');
    expect(status({ Status: 'created' }, '/ferry-demo-r1.start-failed')).toBe('failed');
    expect(statusOfState('exited')).toBe('succeeded');
    expect(statusOfState('created')).toBe('queued');
    expect(isFinal('cancelled')).toBe(true);
    expect(isFinal('queued')).toBe(false);
  });
});
