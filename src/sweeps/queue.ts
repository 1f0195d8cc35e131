/**
 * A sweep's queue on its target. Every run is a container created up front (not started) with its
 * parameters and labels, so the queue and every run's record live in the target's engine; a small
 * queue runner container (`src/entrypoint/queueRunner.ts` built into one file, run from the sweep's
 * own image with the engine's socket mounted) starts them, at most `maxParallel` at once. Nothing depends on the CLI that enqueued the
 * sweep staying alive, and any process that reaches the engine sees the queue's state.
 */
import type Dockerode from 'dockerode';
import { queueRunnerCode } from '../containering/runtimeBundle.js';
import { engineMessage, engineStatus, toDockerUnavailable } from '../engines/dockerApi.js';
import { DockerEngineError } from '../engines/errors.js';
import { FerryError } from '../errors.js';
import { parametersEnvironment, type JobParameters } from '../parameters/index.js';
import {
  RUN_LABELS,
  containerName,
  jobLabels,
  runContainerLabels,
  type RunIdentity,
} from '../routines/docker/labels.js';
import type { GpuRequest, MappedHostConfig } from '../routines/dockerOptions.js';
import { runEnvironment } from '../routines/results/layout.js';
import { tarBufferOf } from '../tar/index.js';

/** Where the queue runner's script is put in its container. */
export const RUNNER_DIR = 'ferry-queue';
export const RUNNER_FILE = 'queueRunner.mjs';

export interface SweepRun {
  readonly runId: string;
  readonly index: number;
  readonly parameters: JobParameters;
}

export interface EnqueueSweepOptions {
  /** The target's engine. */
  readonly docker: Dockerode;
  /** The image every run uses (already on the engine). */
  readonly image: string;
  readonly sweepId: string;
  /** The job's name, version and UID (the run id is each run's). */
  readonly job: Omit<RunIdentity, 'runId'>;
  /** The target's name, recorded on every run. */
  readonly target: string;
  readonly runs: readonly SweepRun[];
  readonly maxParallel: number;
  /** `NAME=value` propagated variables, the same for every run. */
  readonly env: readonly string[];
  /** Mounts and limits (device requests are set per run from `gpuSlots`). */
  readonly hostConfig: MappedHostConfig;
  /** One GPU per run: the device ids runs take turns on (one run per GPU at a time). */
  readonly gpuSlots?: readonly string[];
  /** The engine's socket on its host, mounted into the queue runner. */
  readonly hostSocketPath: string;
  /** How often the runner looks at the queue. Default: 500 ms. */
  readonly pollMs?: number;
  readonly createdAt?: Date;
  /** Told as each container is created. */
  readonly onProgress?: (created: number, total: number) => void;
}

export interface EnqueuedSweep {
  readonly runnerId: string;
  /** Container id by run id. */
  readonly containers: ReadonlyMap<string, string>;
}

/**
 * The GPUs a sweep's runs take turns on: a count `n` gives devices `0..n-1`, a list gives itself;
 * `'all'` or none: no slots (each run gets what the target's `gpus` says).
 */
export function gpuSlotsOf(gpus: GpuRequest | undefined): string[] {
  if (typeof gpus === 'number') return Array.from({ length: gpus }, (_, i) => String(i));
  if (Array.isArray(gpus)) return [...(gpus as readonly string[])];
  return [];
}

/** How many runs may run at once: the asked number, else one per GPU slot, else 1. */
export function defaultParallelism(asked: number | undefined, slots: readonly string[]): number {
  if (asked !== undefined) return slots.length > 0 ? Math.min(asked, slots.length) : asked;
  return slots.length > 0 ? slots.length : 1;
}

/** Creates every run's container (queued) and starts the sweep's queue runner. */
export async function enqueueSweep(options: EnqueueSweepOptions): Promise<EnqueuedSweep> {
  const { docker } = options;
  const createdAt = options.createdAt ?? new Date();
  const slots = options.gpuSlots ?? [];
  const containers = new Map<string, string>();
  try {
    for (const run of options.runs) {
      const slot = slots.length > 0 ? slots[run.index % slots.length] : undefined;
      const hostConfig: MappedHostConfig = {
        ...options.hostConfig,
        ...(slot === undefined
          ? {}
          : { DeviceRequests: [{ Driver: '', DeviceIDs: [slot], Capabilities: [['gpu']] }] }),
      };
      const container = await call(docker, `create the container of run ${run.runId}`, () =>
        docker.createContainer({
          name: containerName(options.job.name, run.runId),
          Image: options.image,
          Env: [
            ...options.env,
            parametersEnvironment(run.parameters),
            ...runEnvironment({
              runId: run.runId,
              sweepId: options.sweepId,
              sweepIndex: run.index,
            }),
          ],
          Labels: runContainerLabels(
            { ...options.job, runId: run.runId },
            {
              target: options.target,
              parameters: run.parameters,
              createdAt,
              sweepId: options.sweepId,
              sweepIndex: run.index,
            },
            slot === undefined ? {} : { [RUN_LABELS.slot]: slot },
          ),
          Tty: false,
          AttachStdin: false,
          AttachStdout: false,
          AttachStderr: false,
          OpenStdin: false,
          HostConfig: hostConfig as Dockerode.HostConfig,
        }),
      );
      containers.set(run.runId, container.id);
      options.onProgress?.(containers.size, options.runs.length);
    }
    const runner = await call(docker, 'create the queue runner', () =>
      docker.createContainer({
        name: containerName(options.job.name, `${options.sweepId}-queue`),
        Image: options.image,
        Entrypoint: ['node', `/${RUNNER_DIR}/${RUNNER_FILE}`],
        Cmd: [],
        Env: [
          `FERRY_SWEEP_ID=${options.sweepId}`,
          `FERRY_MAX_PARALLEL=${options.maxParallel}`,
          `FERRY_POLL_MS=${options.pollMs ?? 500}`,
        ],
        Labels: {
          ...jobLabels(options.job),
          [RUN_LABELS.sweep]: options.sweepId,
          [RUN_LABELS.role]: 'sweep-runner',
          [RUN_LABELS.target]: options.target,
        },
        HostConfig: {
          Binds: [`${options.hostSocketPath}:/var/run/docker.sock`],
          // Restarted if it crashes (or the engine restarts under it); its state is the containers'.
          RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 20 },
        },
      }),
    );
    await call(docker, 'copy the queue runner into its container', async () =>
      runner.putArchive(await runnerArchive(), { path: '/' }),
    );
    await call(docker, 'start the queue runner', () => runner.start());
    return { runnerId: runner.id, containers };
  } catch (error) {
    // Leave nothing half-queued behind: the containers made so far are removed.
    await Promise.all(
      [...containers.values()].map((id) =>
        docker
          .getContainer(id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
    throw error;
  }
}

/** A tar holding `ferry-queue/queueRunner.mjs`. */
async function runnerArchive(): Promise<Buffer> {
  const bytes = Buffer.from(await queueRunnerCode());
  return tarBufferOf([{ type: 'file', path: `${RUNNER_DIR}/${RUNNER_FILE}`, source: { bytes } }]);
}

async function call<T>(docker: Dockerode, what: string, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    const unavailable = toDockerUnavailable(docker, error);
    if (unavailable !== error) throw unavailable;
    if (error instanceof FerryError) throw error;
    throw new DockerEngineError(`could not ${what}: ${engineMessage(error)}`, engineStatus(error), {
      cause: error,
    });
  }
}
