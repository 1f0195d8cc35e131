/**
 * Finding runs again from any process: the project's records folder first, then the labels of the
 * containers on the config's Docker targets. Also keeps records in step with their containers.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type Dockerode from 'dockerode';
import type { DockerTargetConfig, FerryConfig, TargetConfig } from '../config/schema.js';
import { FerryError } from '../errors.js';
import { isFinal, type RunRecord } from '../records/record.js';
import { RECORD_LABELS, START_FAILED_SUFFIX, recordFromContainer } from '../records/labels.js';
import type { DockerJobRun } from '../routines/docker/dockerJobRun.js';
import { labelFilter } from '../routines/docker/labels.js';
import { RunNotFoundError } from '../routines/errors.js';
import type { JobLogs } from '../routines/jobExecutor.js';
import type { CliContext } from './context.js';

/** Sweep ids start with this, so one argument can name a run or a sweep. */
export const SWEEP_PREFIX = 'sweep-';

export function isSweepId(id: string): boolean {
  return id.startsWith(SWEEP_PREFIX);
}

/** The Docker target a record ran on, or undefined for attached runs (or a target no longer configured). */
export function dockerTargetOf(
  config: FerryConfig,
  record: RunRecord,
): DockerTargetConfig | undefined {
  const target: TargetConfig | undefined = config.targets[record.target];
  if (target === undefined || target.type === 'attached') return undefined;
  return target;
}

/**
 * The record of the run a user names: by exact id, unique prefix or suffix in the records folder,
 * else by label on a Docker target's engine, for runs another machine or process started: the
 * local targets always, a remote target when named (`--target`), as its SSH connection costs time.
 * A run found only on a target is added to the records folder.
 */
export async function resolveRun(
  context: CliContext,
  id: string,
  targetName?: string,
): Promise<RunRecord> {
  const store = await context.records();
  const known = await store.resolve(id);
  if (known !== undefined) return known;
  const config = await context.config();
  const targets =
    targetName === undefined
      ? Object.values(config.targets).filter((t) => t.type === 'local')
      : [await context.target(targetName)];
  const searched: string[] = [];
  for (const target of targets) {
    if (target.type === 'attached') continue;
    const engine = await context.engine(target);
    const found = await engine.docker.listContainers({
      all: true,
      filters: labelFilter({ [RECORD_LABELS.runId]: id }),
    });
    searched.push(target.name);
    const first = found[0];
    if (first !== undefined) {
      const info = await engine.docker.getContainer(first.Id).inspect();
      const record = recordFromContainer(info, target.type, target.name, engine.host);
      if (record !== undefined) return store.put(record);
    }
  }
  const remotes = Object.values(config.targets).filter((t) => t.type === 'remote');
  throw new RunNotFoundError(
    `no run ${JSON.stringify(id)}: it is not in ${store.dir}${searched.length > 0 ? ` nor on target ${searched.join(', ')}` : ''}; \`ferry ls\` lists the runs${targetName === undefined && remotes.length > 0 ? `; --target <name> searches a remote target (${remotes.map((t) => t.name).join(', ')}) for runs started elsewhere` : ''}`,
  );
}

/** The container of a Docker run, or undefined when it is gone. */
export async function findContainer(
  docker: Dockerode,
  runId: string,
): Promise<Dockerode.ContainerInfo | undefined> {
  const found = await docker.listContainers({
    all: true,
    filters: labelFilter({ [RECORD_LABELS.runId]: runId }),
  });
  return found[0];
}

/** A handle on a Docker run's container (status, logs, wait, stop). Throws when it is gone. */
export async function dockerRunOf(context: CliContext, record: RunRecord): Promise<DockerJobRun> {
  const config = await context.config();
  const target = dockerTargetOf(config, record);
  if (target === undefined) {
    throw new RunNotFoundError(
      record.targetKind === 'attached'
        ? `run ${record.id} ran attached (in the process that started it); it has no container`
        : `run ${record.id} ran on target ${record.target}, which ${config.file} no longer defines`,
    );
  }
  const engine = await context.engine(target);
  const container = await findContainer(engine.docker, record.id);
  if (container === undefined) {
    throw new RunNotFoundError(
      `run ${record.id}: its container is gone from target ${target.name} (removed)${record.status === 'queued' ? '' : `; its last known status was ${record.status}`}`,
    );
  }
  // Loaded here, like the engine: `ferry ls` over ended runs needs neither (nor dockerode).
  const { DockerJobRun } = await import('../routines/docker/dockerJobRun.js');
  return new DockerJobRun({ docker: engine.docker, runId: record.id, containerId: container.Id });
}

/**
 * Brings records that had not ended up to date with their containers (one list call per target),
 * and writes what changed back to the store. Unreachable targets leave their records as they were.
 */
export async function refreshRecords(
  context: CliContext,
  records: readonly RunRecord[],
): Promise<RunRecord[]> {
  const config = await context.config();
  const store = await context.records();
  const byTarget = new Map<string, RunRecord[]>();
  for (const record of records) {
    if (isFinal(record.status) || dockerTargetOf(config, record) === undefined) continue;
    const list = byTarget.get(record.target) ?? [];
    list.push(record);
    byTarget.set(record.target, list);
  }
  const updated = new Map<string, RunRecord>();
  for (const [targetName, stale] of byTarget) {
    const target = config.targets[targetName] as DockerTargetConfig;
    try {
      const engine = await context.engine(target);
      const containers = await engine.docker.listContainers({
        all: true,
        filters: labelFilter({ [RECORD_LABELS.job]: config.project }),
      });
      const byRun = new Map(containers.map((c) => [c.Labels[RECORD_LABELS.runId], c]));
      for (const record of stale) {
        const container = byRun.get(record.id);
        if (container === undefined) {
          if (record.status !== 'unknown') {
            updated.set(record.id, await store.update(record.id, { status: 'unknown' }));
          }
          continue;
        }
        if (stateMatches(record, container)) continue;
        const info = await engine.docker.getContainer(container.Id).inspect();
        const fresh = recordFromContainer(info, target.type, target.name, engine.host);
        if (fresh === undefined) continue;
        updated.set(
          record.id,
          await store.update(record.id, {
            status: fresh.status,
            ...(fresh.exitCode === undefined ? {} : { exitCode: fresh.exitCode }),
            ...(fresh.startedAt === undefined ? {} : { startedAt: fresh.startedAt }),
            ...(fresh.finishedAt === undefined ? {} : { finishedAt: fresh.finishedAt }),
            containerId: info.Id,
          }),
        );
      }
    } catch (error) {
      if (!(error instanceof FerryError)) throw error;
      context.note(
        `ferry: note: target ${targetName} did not answer (${error.message}); showing its runs as last seen`,
      );
    }
  }
  return records.map((r) => updated.get(r.id) ?? r);
}

/** Whether a listed container is in the state its record says (so it need not be inspected). */
function stateMatches(record: RunRecord, container: Dockerode.ContainerInfo): boolean {
  const startFailed = container.Names.some((n) => n.endsWith(START_FAILED_SUFFIX));
  return (
    (container.State === 'created' && !startFailed && record.status === 'queued') ||
    (container.State === 'running' && record.status === 'running' && record.startedAt !== undefined)
  );
}

/** Where a run's saved output lives (attached runs, and Docker runs whose container was removed). */
export function savedLogFiles(runsDir: string, id: string): { stdout: string; stderr: string } {
  return { stdout: path.join(runsDir, `${id}.stdout`), stderr: path.join(runsDir, `${id}.stderr`) };
}

export async function saveLogs(runsDir: string, id: string, logs: JobLogs): Promise<void> {
  const files = savedLogFiles(runsDir, id);
  await writeFile(files.stdout, logs.stdout);
  await writeFile(files.stderr, logs.stderr);
}

export async function readSavedLogs(runsDir: string, id: string): Promise<JobLogs | undefined> {
  const files = savedLogFiles(runsDir, id);
  if (!existsSync(files.stdout)) return undefined;
  return {
    stdout: await readFile(files.stdout, 'utf8'),
    stderr: existsSync(files.stderr) ? await readFile(files.stderr, 'utf8') : '',
  };
}

/** The runs of a sweep, by index. */
export async function sweepRuns(context: CliContext, sweepId: string): Promise<RunRecord[]> {
  const store = await context.records();
  const runs = (await store.list()).filter((r) => r.sweepId === sweepId);
  if (runs.length === 0) {
    throw new RunNotFoundError(
      `no sweep ${JSON.stringify(sweepId)} in ${store.dir}; \`ferry ls\` lists runs and their sweeps`,
    );
  }
  return runs.sort((a, b) => (a.sweepIndex ?? 0) - (b.sweepIndex ?? 0));
}
