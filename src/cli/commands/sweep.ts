import path from 'node:path';
import { dockerOptionsFor } from '../../config/targets.js';
import { readJsonFile } from '../../parameters/index.js';
import { RECORD_LABELS, recordFromContainer } from '../../records/labels.js';
import { isFinal, type RunRecord } from '../../records/record.js';
import type Dockerode from 'dockerode';
import { DockerJobRun } from '../../routines/docker/dockerJobRun.js';
import { labelFilter } from '../../routines/docker/labels.js';
import { resolveEnvironment, toHostConfig } from '../../routines/dockerOptions.js';
import { newRunId } from '../../routines/runId.js';
import {
  combineSpecs,
  defaultParallelism,
  enqueueSweep,
  expandSweep,
  gpuSlotsOf,
  parseGridOption,
  parseSweepSpec,
  type SweepSpec,
} from '../../sweeps/index.js';
import { flag, intOption, stringOption, stringsOption, type Command } from '../command.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { EXIT } from '../exitCodes.js';
import { formatDuration } from '../output.js';
import { PARAMETER_OPTIONS, parametersFromArgs } from '../parameters.js';
import { SWEEP_PREFIX } from '../runs.js';
import { prepareImage } from './remote.js';
import { countStatuses, sweepRunsTable } from './status.js';

export const sweepCommand: Command = {
  name: 'sweep',
  summary: 'run the job many times with different parameters: one image, a queue on the target',
  usage:
    'ferry sweep [--target <name>] (--grid key=values... | --from sweep.json) [--parallel <n>] [--detach]',
  description: `
Builds (and ships) the job's image once, then queues one run per parameter set on the target: every
run is a container created there up front, and a small queue runner container on the target starts
them, at most --parallel at once. The queue lives on the target, so it goes on when ferry exits
(Ctrl-C, --detach, a closed laptop). Default parallelism: the target's maxParallel, else one run
per GPU when the target's gpus is a count or a list of devices (each run then gets one GPU), else 1.

Parameter sets: every combination of the --grid values (and of a sweep file's "grid"), crossed with
a sweep file's "runs", each over the base parameters (defaults.parameters, --params, --param).
A sweep file is a JSON list of parameter objects, or { "grid": { key: [values] }, "runs": [...] }.
--grid values: a JSON list (lr=[0.1,0.01]), an integer range (seed=1..20) or comma-separated values.

Without --detach, ferry waits and shows progress, then prints every run's outcome; it exits 0 when
all succeeded and 1 otherwise.`,
  options: {
    target: {
      type: 'string',
      short: 't',
      value: 'name',
      description: 'a Docker target (default: defaults.target)',
    },
    grid: {
      type: 'string',
      short: 'g',
      multiple: true,
      value: 'key=values',
      description: 'values of one parameter; the sweep runs every combination',
    },
    from: {
      type: 'string',
      value: 'file.json',
      description: 'a sweep file: a list of parameter objects, or { grid, runs }',
    },
    ...PARAMETER_OPTIONS,
    parallel: {
      type: 'string',
      short: 'P',
      value: 'n',
      description: 'how many runs may run at once on the target',
    },
    detach: {
      type: 'boolean',
      short: 'd',
      description: 'print the sweep id and return once queued',
    },
  },
  examples: [
    'ferry sweep --grid lr=0.1,0.01,0.001 --grid seed=1..3 --parallel 2',
    'ferry sweep --target gpu-box --from sweep.json --detach',
  ],
  async run(context, args) {
    const config = await context.config();
    const target = await context.target(stringOption(args, 'target'));
    if (target.type === 'attached') {
      throw new UsageError(
        `sweep: runs of a sweep are queued on a Docker target; ${target.name} runs in this process (use --target local)`,
        'sweep',
      );
    }
    let spec: SweepSpec = {};
    const from = stringOption(args, 'from');
    if (from !== undefined) {
      const file = path.resolve(context.io.cwd, from);
      spec = parseSweepSpec(await readJsonFile(file), from);
    }
    const grid = Object.fromEntries(
      stringsOption(args, 'grid').map((text) => {
        const { key, values } = parseGridOption(text);
        return [key, values];
      }),
    );
    spec = combineSpecs(spec, { grid });
    if (spec.runs === undefined && Object.keys(spec.grid ?? {}).length === 0) {
      throw new UsageError(
        'sweep: say which runs to make with --grid key=values or --from sweep.json',
        'sweep',
      );
    }
    const base = await parametersFromArgs(config, args, context.io.cwd);
    const parameterSets = expandSweep(base, spec);
    const slots = gpuSlotsOf(target.gpus);
    const asked = intOption(args, 'parallel', 'sweep') ?? target.maxParallel;
    const maxParallel = defaultParallelism(asked, slots);
    if (asked !== undefined && asked > maxParallel) {
      context.note(
        `ferry: note: at most ${maxParallel} at once: each run takes one of the target's ${slots.length} GPUs`,
      );
    }
    const options = dockerOptionsFor(target);
    const env = resolveEnvironment(options, context.io.env);
    const job = await context.job();
    const prepared = await prepareImage(context, config, target, job);
    const manifest = prepared.image.packageInfo.manifest;
    const sweepId = `${SWEEP_PREFIX}${newRunId()}`;
    const createdAt = new Date();
    const runs = parameterSets.map((parameters, index) => ({
      runId: newRunId(createdAt),
      index,
      parameters,
    }));
    await enqueueSweep({
      docker: prepared.engine.docker,
      image: prepared.reference,
      sweepId,
      job: { name: manifest.name, version: manifest.version, uid: manifest.uid },
      target: target.name,
      runs,
      maxParallel,
      env,
      hostConfig: toHostConfig(options),
      ...(slots.length > 0 ? { gpuSlots: slots } : {}),
      hostSocketPath: prepared.engine.hostSocketPath,
      createdAt,
      onProgress: (created, total) =>
        context.progress.report({
          stage: 'queue',
          message: `created ${created} of ${total} runs on ${target.name}`,
          fraction: created / total,
        }),
    });
    const store = await context.records();
    for (const run of runs) {
      await store.put({
        id: run.runId,
        job: manifest.name,
        version: manifest.version,
        uid: manifest.uid,
        target: target.name,
        targetKind: target.type,
        ...(prepared.engine.host === undefined ? {} : { host: prepared.engine.host }),
        parameters: run.parameters,
        status: 'queued',
        createdAt: createdAt.toISOString(),
        sweepId,
        sweepIndex: run.index,
        image: prepared.reference,
        imageId: prepared.image.imageId,
        packageSha256: prepared.packageSha256,
      });
    }
    context.progress.clear();
    context.note(
      `ferry: sweep ${sweepId}: ${runs.length} runs of ${manifest.uid} queued on ${target.name}, at most ${maxParallel} at once (image ${prepared.reference})`,
    );
    context.out(sweepId);
    if (flag(args, 'detach')) {
      context.note(
        `ferry: it goes on there; see it with: ferry status ${sweepId}   (stop it: ferry stop ${sweepId})`,
      );
      return EXIT.ok;
    }
    return waitForSweep(context, sweepId, runs.length);
  },
};

/** Polls the sweep's containers until every run ended; prints the outcome. */
async function waitForSweep(context: CliContext, sweepId: string, total: number): Promise<number> {
  const store = await context.records();
  const runs = (await store.list()).filter((r) => r.sweepId === sweepId);
  const config = await context.config();
  const target = config.targets[runs[0]!.target];
  if (target === undefined || target.type === 'attached') return EXIT.usage;
  const engine = await context.engine(target);
  let interrupted = false;
  const wake = new AbortController();
  const unregister = context.onInterrupt(() => {
    interrupted = true;
    wake.abort();
  });
  const started = Date.now();
  try {
    for (;;) {
      const containers = await engine.docker.listContainers({
        all: true,
        filters: labelFilter({ [RECORD_LABELS.sweep]: sweepId, [RECORD_LABELS.role]: 'run' }),
      });
      const ended = containers.filter((c) => c.State === 'exited' || c.State === 'dead');
      const running = containers.filter((c) => c.State === 'running').length;
      const startFailed = containers.filter(
        (c) => c.State === 'created' && c.Names.some((n) => n.endsWith('.start-failed')),
      ).length;
      const failed = ended.filter((c) => !/^Exited \(0\)/.test(c.Status)).length + startFailed;
      const done = ended.length + startFailed;
      const queued = containers.length - done - running;
      context.progress.report({
        stage: 'sweep',
        message: `${done}/${total} ended (${failed} failed), ${running} running, ${queued} queued — ${formatDuration(Date.now() - started)}`,
        fraction: total === 0 ? 1 : done / total,
      });
      // Removed containers (ferry stop took them off the queue) count as ended.
      if (running === 0 && queued <= 0) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        wake.signal.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
      if (interrupted) {
        context.note(
          `\nferry: stopped waiting; sweep ${sweepId} goes on on ${target.name}. See it: ferry status ${sweepId}; stop it: ferry stop ${sweepId}`,
        );
        return EXIT.interrupted;
      }
    }
  } finally {
    unregister();
  }
  const final = await settleSweep(context, sweepId);
  context.progress.clear();
  const counts = countStatuses(final);
  context.note(sweepRunsTable(final));
  context.note(
    `ferry: sweep ${sweepId}: ${Object.entries(counts)
      .map(([s, n]) => `${n} ${s}`)
      .join(', ')} in ${formatDuration(Date.now() - started)}`,
  );
  const unstarted = final.filter((r) => r.status === 'failed' && r.exitCode === undefined);
  if (unstarted.length > 0) {
    const reason = await startFailure(engine.docker, sweepId);
    context.note(
      `ferry: ${unstarted.length} runs could not start on ${target.name}${reason === undefined ? '' : `: ${reason}`}; the queue's log: ferry logs ${sweepId}`,
    );
  }
  return final.every((r) => r.status === 'succeeded') ? EXIT.ok : EXIT.jobFailed;
}

/** Why the queue runner could not start a run, from its log. */
async function startFailure(docker: Dockerode, sweepId: string): Promise<string | undefined> {
  const runners = await docker.listContainers({
    all: true,
    filters: labelFilter({ [RECORD_LABELS.sweep]: sweepId, [RECORD_LABELS.role]: 'sweep-runner' }),
  });
  if (runners[0] === undefined) return undefined;
  const logs = await new DockerJobRun({
    docker,
    runId: sweepId,
    containerId: runners[0].Id,
  }).getLogs();
  const line = logs.stdout.split('\n').find((l) => l.includes('could not start run'));
  return line?.replace(/^\S+ could not start run \S+ \(#\d+\): /, '');
}

/** Reads every run's final state from its container into the records. */
export async function settleSweep(context: CliContext, sweepId: string): Promise<RunRecord[]> {
  const store = await context.records();
  const config = await context.config();
  const runs = (await store.list()).filter((r) => r.sweepId === sweepId);
  const target = config.targets[runs[0]!.target];
  if (target === undefined || target.type === 'attached') return runs;
  const engine = await context.engine(target);
  const containers = await engine.docker.listContainers({
    all: true,
    filters: labelFilter({ [RECORD_LABELS.sweep]: sweepId, [RECORD_LABELS.role]: 'run' }),
  });
  const byRun = new Map(containers.map((c) => [c.Labels[RECORD_LABELS.runId], c.Id]));
  const out: RunRecord[] = [];
  for (const run of runs.sort((a, b) => (a.sweepIndex ?? 0) - (b.sweepIndex ?? 0))) {
    const id = byRun.get(run.id);
    if (id === undefined) {
      out.push(
        isFinal(run.status)
          ? run
          : await store.update(run.id, {
              status: run.status === 'queued' ? 'cancelled' : 'unknown',
            }),
      );
      continue;
    }
    const fresh = recordFromContainer(
      await engine.docker.getContainer(id).inspect(),
      target.type,
      target.name,
      engine.host,
    );
    out.push(
      await store.update(run.id, {
        status: fresh?.status ?? 'unknown',
        containerId: id,
        ...(fresh?.exitCode === undefined ? {} : { exitCode: fresh.exitCode }),
        ...(fresh?.startedAt === undefined ? {} : { startedAt: fresh.startedAt }),
        ...(fresh?.finishedAt === undefined ? {} : { finishedAt: fresh.finishedAt }),
      }),
    );
  }
  return out;
}
