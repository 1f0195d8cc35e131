/**
 * Images on the engine a target runs on, and runs started there: built on the local engine, and for
 * a remote target shipped by its `RemoteDockerExecutor` (through the target's registry, or over SSH
 * with only the layers the remote lacks). Shared by `build`, `run` and `sweep`.
 */
import type { DockerTargetConfig, FerryConfig, RemoteTargetConfig } from '../../config/schema.js';
import {
  buildImage,
  buildTarget,
  remoteExecutorFor,
  type TargetEngine,
} from '../../config/targets.js';
import type { ImageInfo } from '../../containering/index.js';
import type { JobParameters } from '../../parameters/index.js';
import type { RunRecord } from '../../records/record.js';
import type { Job } from '../../routines/job.js';
import type { JobRun } from '../../routines/jobExecutor.js';
import type { RemoteDockerExecutor } from '../../routines/remoteDockerExecutor.js';
import type { ShipResult } from '../../shipping/index.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../output.js';
import { keepPackage } from '../packages.js';
import { startRecordedRun } from '../recordedRun.js';
import { reportContainering } from './run.js';

export interface TargetImage {
  /** The image as built on the local engine. */
  readonly image: ImageInfo;
  /** The reference to run on the target's engine. */
  readonly reference: string;
  readonly engine: TargetEngine;
  readonly packageSha256: string;
  /** How it reached a remote target. */
  readonly shipped?: ShipResult;
}

/** The remote executor of a target, on the context's SSH connection and local engine. */
async function remoteExecutor(
  context: CliContext,
  config: FerryConfig,
  target: RemoteTargetConfig,
  job: Job,
): Promise<{ executor: RemoteDockerExecutor; engine: TargetEngine }> {
  const [builder, engine] = await Promise.all([
    context.engine(buildTarget(config)),
    context.engine(target),
  ]);
  const executor = remoteExecutorFor(config, target, {
    job,
    env: context.io.env,
    localDocker: builder.docker,
    ...(engine.connection === undefined ? {} : { connection: engine.connection }),
    onProgress: reportContainering(context),
  });
  return { executor, engine };
}

/** Builds the job's image for a target and makes sure the target's engine has it. */
export async function prepareImage(
  context: CliContext,
  config: FerryConfig,
  target: DockerTargetConfig,
  job: Job,
): Promise<TargetImage> {
  if (target.type === 'local') {
    const builder = await context.engine(target);
    const image = await buildImage(config, target, job, {
      docker: builder.docker,
      onProgress: reportContainering(context),
    });
    const kept = await keepPackage(config.workDir, image.packageInfo);
    return { image, reference: image.reference, engine: builder, packageSha256: kept.sha256 };
  }
  const { executor, engine } = await remoteExecutor(context, config, target, job);
  const image = await executor.build();
  const kept = await keepPackage(config.workDir, image.packageInfo);
  const shipped = await executor.ship(image);
  reportShipment(context, target, image.reference, shipped);
  return { image, reference: shipped.reference, engine, packageSha256: kept.sha256, shipped };
}

/** One line on how the image reached the target. */
function reportShipment(
  context: CliContext,
  target: RemoteTargetConfig,
  reference: string,
  shipped: ShipResult,
): void {
  const how =
    shipped.method === 'present'
      ? 'already there'
      : shipped.method === 'registry'
        ? `through ${shipped.registryReference}`
        : `${shipped.layersSent} of ${shipped.layersTotal} layers, ${formatBytes(shipped.bytesSent)} over SSH`;
  context.progress.report({
    stage: 'shipping',
    message: `${reference} on ${target.name}: ${how}`,
    important: true,
  });
}

/** Builds, ships and starts one run on a remote target, detached (the CLI follows it). */
export async function startRemoteRun(
  context: CliContext,
  config: FerryConfig,
  target: RemoteTargetConfig,
  job: Job,
  runId: string,
  parameters: JobParameters,
): Promise<{ record: RunRecord; run: JobRun }> {
  const { executor, engine } = await remoteExecutor(context, config, target, job);
  const started = await startRecordedRun(context, config, executor, {
    target: target.name,
    targetKind: 'remote',
    ...(engine.host === undefined ? {} : { host: engine.host }),
    runId,
    parameters,
  });
  if (executor.lastShipment !== undefined) {
    reportShipment(context, target, executor.lastImage!.reference, executor.lastShipment);
  }
  return started;
}
