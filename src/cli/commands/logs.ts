import { engineStatus } from '../../containering/dockerEngine.js';
import { RECORD_LABELS } from '../../records/labels.js';
import { DockerJobRun } from '../../routines/docker/dockerJobRun.js';
import { labelFilter } from '../../routines/docker/labels.js';
import { RunNotFoundError } from '../../routines/errors.js';
import type { JobLogs, LogStream } from '../../routines/jobExecutor.js';
import { flag, type Command, stringOption, RUN_LOOKUP_TARGET_OPTION } from '../command.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exitCodes.js';
import { writeOrWait } from '../output.js';
import { dockerRunOf, isSweepId, readSavedLogs, resolveRun, sweepRuns } from '../runs.js';

export const logsCommand: Command = {
  name: 'logs',
  summary: "print a run's output (stdout here, stderr to stderr); --follow to stream it",
  usage: 'ferry logs <run id | sweep id> [--follow]',
  description: `
A run id may be shortened to a unique prefix or to its random suffix. For a sweep, the logs are its
queue runner's (which run started when). Output saved when a container was removed (--rm) or of an
attached run is printed from the records folder.`,
  options: {
    target: RUN_LOOKUP_TARGET_OPTION,
    follow: {
      type: 'boolean',
      short: 'f',
      description: 'keep printing new lines until the run ends (Ctrl-C to stop)',
    },
  },
  minPositionals: 1,
  maxPositionals: 1,
  async run(context, args) {
    const id = args.positionals[0]!;
    const follow = flag(args, 'follow');
    if (isSweepId(id)) return sweepLogs(context, id, follow);
    const record = await resolveRun(context, id, stringOption(args, 'target'));
    const store = await context.records();
    if (record.targetKind === 'attached') {
      const saved = await readSavedLogs(store.dir, record.id);
      if (saved === undefined) {
        throw new RunNotFoundError(
          `run ${record.id} ran attached and ${record.status === 'running' ? 'is still running in the process that started it' : 'left no saved output'}`,
        );
      }
      print(context, saved);
      return EXIT.ok;
    }
    let run: DockerJobRun;
    try {
      run = await dockerRunOf(context, record);
    } catch (error) {
      const saved = await readSavedLogs(store.dir, record.id);
      if (error instanceof RunNotFoundError && saved !== undefined) {
        print(context, saved);
        return EXIT.ok;
      }
      throw error;
    }
    if (!follow) {
      print(context, await run.getLogs());
      return EXIT.ok;
    }
    return followLines(context, run);
  },
};

function print(context: CliContext, logs: JobLogs): void {
  context.io.stdout.write(logs.stdout);
  context.io.stderr.write(logs.stderr);
}

async function followLines(context: CliContext, run: DockerJobRun): Promise<number> {
  const stop = new AbortController();
  let interrupted = false;
  const unregister = context.onInterrupt(() => {
    interrupted = true;
    stop.abort();
  });
  try {
    await run.followLogs({
      onLine: (line: string, stream: LogStream) =>
        writeOrWait(stream === 'stdout' ? context.io.stdout : context.io.stderr, `${line}\n`),
      signal: stop.signal,
    });
  } finally {
    unregister();
  }
  return interrupted ? EXIT.interrupted : EXIT.ok;
}

async function sweepLogs(context: CliContext, sweepId: string, follow: boolean): Promise<number> {
  const runs = await sweepRuns(context, sweepId);
  const config = await context.config();
  const target = config.targets[runs[0]!.target];
  if (target === undefined || target.type === 'attached') {
    throw new RunNotFoundError(
      `sweep ${sweepId}: its target ${runs[0]!.target} is not a Docker target of ${config.file}`,
    );
  }
  const engine = await context.engine(target);
  const runners = await engine.docker.listContainers({
    all: true,
    filters: labelFilter({ [RECORD_LABELS.sweep]: sweepId, [RECORD_LABELS.role]: 'sweep-runner' }),
  });
  const runner = runners[0];
  if (runner === undefined) {
    throw new RunNotFoundError(
      `sweep ${sweepId}: its queue runner container is gone from ${target.name}`,
    );
  }
  const run = new DockerJobRun({ docker: engine.docker, runId: sweepId, containerId: runner.Id });
  try {
    if (!follow) {
      print(context, await run.getLogs());
      return EXIT.ok;
    }
    return await followLines(context, run);
  } catch (error) {
    if (engineStatus(error) === 404)
      throw new RunNotFoundError(`sweep ${sweepId}: its queue runner is gone`);
    throw error;
  }
}
