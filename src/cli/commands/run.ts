import { makePackage } from '../../packaging/index.js';
import type { AttachedTargetConfig, FerryConfig, LocalTargetConfig } from '../../config/schema.js';
import { localExecutorFor, packagingTaskFor } from '../../config/targets.js';
import type { RemoteProgress } from '../../routines/remoteDockerExecutor.js';
import type { JobParameters } from '../../parameters/index.js';
import { statusOfState, type RunRecord } from '../../records/record.js';
import { AttachedExecutor } from '../../routines/attachedExecutor.js';
import type { Job } from '../../routines/job.js';
import type { JobRun, LogStream } from '../../routines/jobExecutor.js';
import { newRunId } from '../../routines/runId.js';
import { flag, stringOption, type Command } from '../command.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exitCodes.js';
import { formatBytes, formatDuration, writeOrWait } from '../output.js';
import { packagePath, sha256File } from '../packages.js';
import { PARAMETER_OPTIONS, parametersFromArgs } from '../parameters.js';
import { dockerTargetOf, findContainer, saveLogs } from '../runs.js';
import { startRemoteRun } from './remote.js';
import { startRecordedRun } from '../recordedRun.js';

export const runCommand: Command = {
  name: 'run',
  summary: 'run the job attached, on the local Docker engine, or on a remote target',
  usage: 'ferry run [--target <name>] [--param key=value]... [--params file.json] [--detach]',
  description: `
Packages the job (the config's job module and export), builds its image (reused when nothing
changed), ships it to a remote target, and starts it with the given parameters, which the job's
run(parameters) receives. Without --detach, the job's output is streamed here and ferry exits with
0 when the job completed and 1 when it failed. Ctrl-C detaches from a Docker run (it goes on; see
\`ferry logs -f <id>\` and \`ferry stop <id>\`) and asks an attached job to stop().
Every run is recorded (ferry ls / status / logs / get).`,
  options: {
    target: {
      type: 'string',
      short: 't',
      value: 'name',
      description:
        'where to run: attached, local, or a target of the config (default: defaults.target)',
    },
    ...PARAMETER_OPTIONS,
    detach: {
      type: 'boolean',
      short: 'd',
      description: 'print the run id and return once the run started (Docker targets)',
    },
    rm: {
      type: 'boolean',
      description: 'remove the container once the run ended (its record and logs are kept)',
    },
    'via-package': {
      type: 'boolean',
      description: 'attached: run the copy loaded back from the package, not the object itself',
    },
  },
  examples: [
    'ferry run --target attached --param name=Ada',
    'ferry run --param epochs=10 --param optimizer.lr=0.01',
    'ferry run --target gpu-box --params params.json --detach',
  ],
  async run(context, args) {
    const config = await context.config();
    const target = await context.target(stringOption(args, 'target'));
    const parameters = await parametersFromArgs(config, args, context.io.cwd);
    if (flag(args, 'detach') && target.type === 'attached') {
      context.note('ferry: note: --detach is ignored for attached runs (they run in this process)');
    }
    const job = await context.job();
    const runId = newRunId();
    if (target.type === 'attached') {
      return runAttached(
        context,
        config,
        target,
        job,
        runId,
        parameters,
        flag(args, 'via-package'),
      );
    }
    const started =
      target.type === 'local'
        ? await startLocal(context, config, target, job, runId, parameters)
        : await startRemoteRun(context, config, target, job, runId, parameters);
    return followRun(context, started.record, started.run, {
      detach: flag(args, 'detach'),
      remove: flag(args, 'rm'),
    });
  },
};

/** Reports packaging, build and shipping progress on the context's progress display. */
export function reportContainering(context: CliContext): (progress: RemoteProgress) => void {
  return (progress) => {
    if (progress.stage === 'ship') {
      const { shipping } = progress;
      context.progress.report({
        stage: 'shipping',
        message:
          shipping.bytesSent === undefined
            ? shipping.message
            : `${shipping.message} (${formatBytes(shipping.bytesSent)} sent)`,
        important: shipping.phase !== 'transfer',
      });
      return;
    }
    context.progress.report({
      stage: progress.stage,
      message: progress.message,
      important: progress.stage !== 'build' || /^Step \d+\/\d+/.test(progress.message),
    });
  };
}

async function runAttached(
  context: CliContext,
  config: FerryConfig,
  target: AttachedTargetConfig,
  job: Job,
  runId: string,
  parameters: JobParameters,
  viaPackage: boolean,
): Promise<number> {
  const store = await context.records();
  // The package is made for attached runs too, so the record names the exact source (ferry get).
  context.progress.report({ stage: 'packaging', message: `${config.project} ${config.version}` });
  const info = await makePackage(packagingTaskFor(config, job), {
    outputDir: `${config.workDir}/packages`,
    onProgress: (stage, detail) =>
      context.progress.report({ stage: 'packaging', message: `${stage}: ${detail}` }),
  });
  const packageSha256 = await sha256File(info.path);
  const executor = new AttachedExecutor({
    job,
    packagingTask: () => packagingTaskFor(config, job),
    workDir: config.workDir,
  });
  const createdAt = new Date().toISOString();
  let record: RunRecord = await store.put({
    id: runId,
    job: config.project,
    version: config.version,
    uid: info.uid,
    target: target.name,
    targetKind: 'attached',
    parameters,
    status: 'running',
    createdAt,
    startedAt: createdAt,
    packageSha256,
  });
  context.progress.clear();
  context.note(
    `ferry: run ${runId}: ${config.project} ${config.version} attached (in this process)`,
  );
  const run = await executor.execute({
    wait: false,
    parameters,
    runId,
    viaPackage: viaPackage || target.viaPackage,
  });
  let interrupted = false;
  const stopOnInterrupt = context.onInterrupt(() => {
    interrupted = true;
    context.note('ferry: interrupted: asking the job to stop() (Ctrl-C again to exit at once)');
    run
      .stop()
      .catch((error: unknown) =>
        context.note(
          `ferry: could not stop the job: ${(error as Error).message}; Ctrl-C again to exit`,
        ),
      );
  });
  let result;
  try {
    result = await run.wait();
  } finally {
    stopOnInterrupt();
  }
  const status = await run.status();
  await saveLogs(store.dir, runId, await run.getLogs());
  record = await store.update(runId, {
    status:
      result.state === 'exited' ? 'succeeded' : result.state === 'stopped' ? 'stopped' : 'failed',
    exitCode: result.exitCode,
    ...(status.finishedAt === undefined ? {} : { finishedAt: status.finishedAt.toISOString() }),
  });
  const code = finish(context, record);
  return interrupted && record.status === 'stopped' ? EXIT.interrupted : code;
}

async function startLocal(
  context: CliContext,
  config: FerryConfig,
  target: LocalTargetConfig,
  job: Job,
  runId: string,
  parameters: JobParameters,
): Promise<{ record: RunRecord; run: JobRun }> {
  const engine = await context.engine(target);
  const executor = localExecutorFor(config, target, {
    job,
    docker: engine.docker,
    env: context.io.env,
    onProgress: reportContainering(context),
  });
  return startRecordedRun(context, config, executor, {
    target: target.name,
    targetKind: 'local',
    runId,
    parameters,
  });
}

/**
 * After a Docker run started: prints its id, then (unless detached) streams its output, waits for
 * its end, records it, and returns the exit code for the CLI.
 */
export async function followRun(
  context: CliContext,
  record: RunRecord,
  run: JobRun,
  options: { readonly detach: boolean; readonly remove: boolean },
): Promise<number> {
  context.progress.clear();
  const where = record.host === undefined ? record.target : `${record.target} (${record.host})`;
  if (options.detach) {
    context.note(
      `ferry: started run ${record.id} on ${where}; follow it with: ferry logs -f ${record.id}`,
    );
    context.out(record.id);
    return EXIT.ok;
  }
  context.note(
    `ferry: run ${record.id}: ${record.job} ${record.version} on ${where} (${record.image ?? record.uid})`,
  );
  const stopFollowing = new AbortController();
  let detached = false;
  const unregister = context.onInterrupt(() => {
    detached = true;
    stopFollowing.abort();
  });
  try {
    await run.followLogs({
      onLine: (line: string, stream: LogStream) =>
        writeOrWait(stream === 'stdout' ? context.io.stdout : context.io.stderr, `${line}\n`),
      signal: stopFollowing.signal,
    });
  } finally {
    unregister();
  }
  if (detached) {
    context.note(
      `\nferry: detached from run ${record.id}; it goes on. Follow it: ferry logs -f ${record.id}; stop it: ferry stop ${record.id}`,
    );
    return EXIT.interrupted;
  }
  const result = await run.wait();
  // The run's own view of its end: it holds even when the container was removed (removeContainer).
  const status = await run.status();
  const store = await context.records();
  const final = await store.update(record.id, {
    status: statusOfState(status.state),
    exitCode: status.exitCode ?? result.exitCode,
    ...(status.startedAt === undefined ? {} : { startedAt: status.startedAt.toISOString() }),
    ...(status.finishedAt === undefined ? {} : { finishedAt: status.finishedAt.toISOString() }),
  });
  const target = dockerTargetOf(await context.config(), record);
  if (options.remove || target?.removeContainer === true) {
    // Kept in the records folder, so `ferry logs` still has them once the container is gone.
    await saveLogs(store.dir, record.id, await run.getLogs());
  }
  if (options.remove && target !== undefined) {
    const engine = await context.engine(target);
    const container = await findContainer(engine.docker, record.id);
    if (container !== undefined) {
      await engine.docker.getContainer(container.Id).remove({ force: true });
    }
  }
  return finish(context, final);
}

/** The closing line of a run, and the CLI's exit code for it. */
export function finish(context: CliContext, record: RunRecord): number {
  const took =
    record.startedAt !== undefined && record.finishedAt !== undefined
      ? ` in ${formatDuration(Date.parse(record.finishedAt) - Date.parse(record.startedAt))}`
      : '';
  const code = record.exitCode === undefined ? '' : ` (exit code ${record.exitCode})`;
  context.note(`ferry: run ${record.id} ${record.status}${code}${took}`);
  return record.status === 'succeeded' ? EXIT.ok : EXIT.jobFailed;
}

export { packagePath };
