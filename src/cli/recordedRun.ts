import type { FerryConfig } from '../config/schema.js';
import type { JobParameters } from '../parameters/index.js';
import { recordLabels } from '../records/labels.js';
import type { RunRecord } from '../records/record.js';
import { DockerJobRun } from '../routines/docker/dockerJobRun.js';
import type { JobRun } from '../routines/jobExecutor.js';
import type { LocalDockerExecutor } from '../routines/localDockerExecutor.js';
import type { RemoteDockerExecutor } from '../routines/remoteDockerExecutor.js';
import type { CliContext } from './context.js';
import { keepPackage } from './packages.js';

export interface RecordedRunFields {
  readonly target: string;
  readonly targetKind: 'local' | 'remote';
  /** The remote host, shown in listings. */
  readonly host?: string;
  readonly runId: string;
  readonly parameters: JobParameters;
}

/**
 * Starts a detached run on a Docker target with the record labels, keeps the package it used and
 * writes its record: the same steps for the local engine and a remote one.
 */
export async function startRecordedRun(
  context: CliContext,
  config: FerryConfig,
  executor: LocalDockerExecutor | RemoteDockerExecutor,
  fields: RecordedRunFields,
): Promise<{ record: RunRecord; run: JobRun }> {
  const { target, targetKind, host, runId, parameters } = fields;
  const createdAt = new Date();
  const run = await executor.execute({
    wait: false,
    parameters,
    runId,
    labels: recordLabels({ target, parameters, createdAt }),
  });
  const image = executor.lastImage!;
  const shipped = 'lastShipment' in executor ? executor.lastShipment : undefined;
  const kept = await keepPackage(config.workDir, image.packageInfo);
  const record = await (
    await context.records()
  ).put({
    id: runId,
    job: config.project,
    version: config.version,
    uid: image.packageInfo.uid,
    target,
    targetKind,
    ...(host === undefined ? {} : { host }),
    parameters,
    status: 'running',
    createdAt: createdAt.toISOString(),
    image: shipped?.reference ?? image.reference,
    imageId: image.imageId,
    ...(run instanceof DockerJobRun ? { containerId: run.containerId } : {}),
    packageSha256: kept.sha256,
  });
  return { record, run };
}
