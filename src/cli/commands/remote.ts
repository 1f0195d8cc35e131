/**
 * Images on the engine a target runs on: built on the local engine, and for a remote target shipped
 * there (through its registry, or over SSH with only the layers it lacks). Shared by `build`,
 * `run` and `sweep`.
 */
import type { DockerTargetConfig, FerryConfig, RemoteTargetConfig } from '../../config/schema.js';
import {
  buildImage,
  buildTarget,
  dockerOptionsFor,
  type TargetEngine,
} from '../../config/targets.js';
import type { ImageInfo } from '../../containering/index.js';
import { FerryError } from '../../errors.js';
import { parametersEnvironment, type JobParameters } from '../../parameters/index.js';
import { recordLabels } from '../../records/labels.js';
import type { RunRecord } from '../../records/record.js';
import { DockerJobRun } from '../../routines/docker/dockerJobRun.js';
import { containerName, runLabels } from '../../routines/docker/labels.js';
import { startContainer } from '../../routines/docker/startContainer.js';
import { resolveEnvironment, toHostConfig } from '../../routines/dockerOptions.js';
import type { Job } from '../../routines/job.js';
import type { JobRun } from '../../routines/jobExecutor.js';
import { shipImage, type ShipResult } from '../../shipping/index.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../output.js';
import { keepPackage } from '../packages.js';
import { reportContainering } from './run.js';

/** A registry password named by `registryAuth.passwordEnv` is not set. */
export class MissingRegistryPasswordError extends FerryError {}

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

/** Builds the job's image for a target and makes sure the target's engine has it. */
export async function prepareImage(
  context: CliContext,
  config: FerryConfig,
  target: DockerTargetConfig,
  job: Job,
): Promise<TargetImage> {
  const builder = await context.engine(buildTarget(config));
  const image = await buildImage(config, target, job, {
    docker: builder.docker,
    onProgress: reportContainering(context),
  });
  const kept = await keepPackage(config.workDir, image.packageInfo);
  if (target.type === 'local') {
    return { image, reference: image.reference, engine: builder, packageSha256: kept.sha256 };
  }
  const engine = await context.engine(target);
  const shipped = await ship(context, builder, engine, target, image.reference);
  return { image, reference: shipped.reference, engine, packageSha256: kept.sha256, shipped };
}

async function ship(
  context: CliContext,
  builder: TargetEngine,
  engine: TargetEngine,
  target: RemoteTargetConfig,
  reference: string,
): Promise<ShipResult> {
  let registryAuth: { username: string; password: string } | undefined;
  if (target.registryAuth !== undefined) {
    const password = context.io.env[target.registryAuth.passwordEnv];
    if (password === undefined) {
      throw new MissingRegistryPasswordError(
        `targets.${target.name}.registryAuth.passwordEnv names ${target.registryAuth.passwordEnv}, which is not set; export it before shipping`,
      );
    }
    registryAuth = { username: target.registryAuth.username, password };
  }
  const shipped = await shipImage({
    local: builder.docker,
    remote: engine.docker,
    image: reference,
    target: engine.host ?? target.name,
    ...(target.repository === undefined ? {} : { repository: target.repository }),
    ...(registryAuth === undefined ? {} : { registryAuth }),
    onProgress: (progress) =>
      context.progress.report({
        stage: 'shipping',
        message:
          progress.bytesSent === undefined
            ? progress.message
            : `${progress.message} (${formatBytes(progress.bytesSent)} sent)`,
        important: progress.phase !== 'transfer',
      }),
    signal: context.interrupted,
  });
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
  return shipped;
}

/** Builds, ships and starts one run on a remote target (detached; the CLI follows it). */
export async function startRemoteRun(
  context: CliContext,
  config: FerryConfig,
  target: RemoteTargetConfig,
  job: Job,
  runId: string,
  parameters: JobParameters,
): Promise<{ record: RunRecord; run: JobRun }> {
  return startDockerRun(context, config, target, job, runId, parameters);
}

/** Builds (and ships) the image and starts one run's container on a Docker target. */
export async function startDockerRun(
  context: CliContext,
  config: FerryConfig,
  target: DockerTargetConfig,
  job: Job,
  runId: string,
  parameters: JobParameters,
): Promise<{ record: RunRecord; run: JobRun }> {
  const options = dockerOptionsFor(target);
  // Read the variables first: a missing one fails before anything is built.
  const env = [...resolveEnvironment(options, context.io.env), parametersEnvironment(parameters)];
  const prepared = await prepareImage(context, config, target, job);
  const manifest = prepared.image.packageInfo.manifest;
  const createdAt = new Date();
  context.progress.report({ stage: 'start', message: `starting run ${runId} on ${target.name}` });
  const containerId = await startContainer(prepared.engine.docker, {
    image: prepared.reference,
    name: containerName(manifest.name, runId),
    labels: {
      ...recordLabels({ target: target.name, parameters, createdAt }),
      ...runLabels({ name: manifest.name, version: manifest.version, uid: manifest.uid, runId }),
    },
    env,
    hostConfig: toHostConfig(options),
  });
  const record = await (
    await context.records()
  ).put({
    id: runId,
    job: manifest.name,
    version: manifest.version,
    uid: manifest.uid,
    target: target.name,
    targetKind: target.type,
    ...(prepared.engine.host === undefined ? {} : { host: prepared.engine.host }),
    parameters,
    status: 'running',
    createdAt: createdAt.toISOString(),
    image: prepared.reference,
    imageId: prepared.image.imageId,
    containerId,
    packageSha256: prepared.packageSha256,
  });
  const run = new DockerJobRun({ docker: prepared.engine.docker, runId, containerId });
  return { record, run };
}
