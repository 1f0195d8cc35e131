/**
 * What the UI's JSON API does, over the same pieces the CLI uses: the project's records, the
 * targets' executors (`context.executor(target)`), results and metrics. The UI never talks to an
 * engine itself. Records hold the names of propagated environment variables only, never their
 * values, and the API sends no part of the config but the target names and kinds.
 */
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { FerryError } from '../errors.js';
import { packagePath } from '../packaging/index.js';
import { isFinal, type RunRecord } from '../records/record.js';
import type { JobLogs, LogStream } from '../routines/jobExecutor.js';
import type { RunMetrics } from '../routines/results/metrics.js';
import type { CliContext } from '../cli/context.js';
import { executorOf, refreshRecords } from '../cli/runs.js';
import { stopRun } from '../cli/commands/stop.js';
import { UiBadRequestError, UiNotFoundError } from './errors.js';
import { RecordCache, type RecordSnapshot } from './recordCache.js';

/** At most this much of a result's printed form is sent. */
const RESULT_TEXT_LIMIT = 64 * 1024;

export interface ProjectInfo {
  readonly project: string;
  readonly version: string;
  readonly targets: readonly { readonly name: string; readonly type: string }[];
}

export interface OutputFile {
  readonly path: string;
  readonly size: number;
}

export interface ResultSummary {
  readonly text?: string;
  readonly error?: string;
}

export class UiApi {
  private readonly cache: Promise<RecordCache>;
  /** Made when a page first asks for a run's outputs; removed by close(). */
  private outputsDir: Promise<string> | undefined;
  /** Runs whose outputs are downloaded (or being) into outputsDir, for this server's life. */
  private readonly outputs = new Map<string, Promise<string>>();
  private syncing: Promise<void> | undefined;

  constructor(readonly context: CliContext) {
    this.cache = context
      .records()
      .then((store) => new RecordCache(store.dir, (m) => context.note(`ferry: warning: ${m}`)));
  }

  async project(): Promise<ProjectInfo> {
    const config = await this.context.config();
    return {
      project: config.project,
      version: config.version,
      targets: Object.values(config.targets).map((t) => ({ name: t.name, type: t.type })),
    };
  }

  /** Every record, with its ETag. */
  async runs(): Promise<RecordSnapshot> {
    return (await this.cache).snapshot();
  }

  /**
   * Brings the records of runs that have not ended up to date with their targets (one listing per
   * target), and adds runs the local targets hold that the records lack. Changed records are
   * written to the store, which changes the listing's ETag. One sync at a time.
   */
  sync(discover: boolean): Promise<void> {
    this.syncing ??= this.syncOnce(discover).finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  private async syncOnce(discover: boolean): Promise<void> {
    const { records } = await this.runs();
    const live = records.filter((r) => !isFinal(r.status));
    if (live.length > 0) await refreshRecords(this.context, live);
    if (!discover) return;
    const config = await this.context.config();
    const { targetsSearchedByDefault } = await import('../config/targetSearch.js');
    const known = new Set(records.map((r) => r.id));
    for (const target of targetsSearchedByDefault(config)) {
      try {
        await (await this.context.executor(target)).discoverRuns(known);
      } catch (error) {
        if (!(error instanceof FerryError)) throw error;
        this.context.note(`ferry: note: could not search target ${target.name}: ${error.message}`);
      }
    }
  }

  /** The record of run `id` (exact id), brought up to date when it has not ended. */
  async run(id: string): Promise<RunRecord> {
    const record = await (await this.context.records()).get(id);
    if (record === undefined)
      throw new UiNotFoundError(`no run ${JSON.stringify(id)} in the records`);
    if (isFinal(record.status)) return record;
    const [fresh] = await refreshRecords(this.context, [record]);
    return fresh!;
  }

  async metrics(id: string): Promise<RunMetrics> {
    const record = await this.run(id);
    return (await executorOf(this.context, record)).metrics(record.id);
  }

  /**
   * Calls `onLine` with each line of the run's output, live while it runs, until it ends or
   * `signal` aborts. A run whose target is gone is served from the logs saved with its record.
   */
  async followLogs(
    id: string,
    onLine: (line: string, stream: LogStream) => unknown,
    signal: AbortSignal,
  ): Promise<void> {
    const record = await this.run(id);
    let logs: JobLogs | undefined;
    try {
      const run = await (await executorOf(this.context, record)).run(record.id);
      if (isFinal(record.status)) logs = await run.getLogs();
      else {
        await run.followLogs({ onLine, signal });
        return;
      }
    } catch (error) {
      if (!(error instanceof FerryError)) throw error;
      logs = await (await this.context.records()).readLogs(record.id);
      if (logs === undefined) throw error;
    }
    for (const stream of ['stdout', 'stderr'] as const) {
      const text = logs[stream];
      const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
      if (text === '') continue;
      for (const line of lines) {
        if (signal.aborted) return;
        await onLine(line.endsWith('\r') ? line.slice(0, -1) : line, stream);
      }
    }
  }

  async result(id: string): Promise<ResultSummary> {
    const record = await this.run(id);
    if (!isFinal(record.status)) return { error: `the run is ${record.status}: no result yet` };
    try {
      const value = await (await executorOf(this.context, record)).result(record.id);
      const text = inspect(value, {
        depth: 6,
        maxArrayLength: 50,
        maxStringLength: 2000,
        breakLength: 100,
      });
      return {
        text:
          text.length > RESULT_TEXT_LIMIT ? `${text.slice(0, RESULT_TEXT_LIMIT)}\n… (cut)` : text,
      };
    } catch (error) {
      if (!(error instanceof FerryError)) throw error;
      return { error: error.message };
    }
  }

  /** The files of the run's outputs folder, brought home once (into a folder of this server's). */
  async outputFiles(id: string): Promise<OutputFile[]> {
    const dir = await this.outputsFolder(id);
    if (dir === undefined) return [];
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    const files: OutputFile[] = [];
    for (const entry of entries) {
      if (!entry.isFile()) continue;
      const full = path.join(entry.parentPath, entry.name);
      files.push({
        path: path.relative(dir, full).split(path.sep).join('/'),
        size: (await stat(full)).size,
      });
    }
    return files.sort((a, b) => a.path.localeCompare(b.path));
  }

  /** A file of the run's outputs, by its path in the folder; never a path outside it. */
  async outputFile(
    id: string,
    relative: string,
  ): Promise<{ stream: NodeJS.ReadableStream; size: number; name: string }> {
    const dir = await this.outputsFolder(id);
    const parts = relative.split('/');
    if (
      dir === undefined ||
      relative === '' ||
      parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\\'))
    ) {
      throw new UiBadRequestError(
        `${JSON.stringify(relative)} is not a file of run ${id}'s outputs`,
      );
    }
    const full = path.join(dir, ...parts);
    let info;
    try {
      info = await stat(full);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      throw new UiNotFoundError(`run ${id} has no output ${JSON.stringify(relative)}`);
    }
    if (!info.isFile()) throw new UiNotFoundError(`${JSON.stringify(relative)} is not a file`);
    return { stream: createReadStream(full), size: info.size, name: parts.at(-1)! };
  }

  private outputsFolder(id: string): Promise<string | undefined> {
    return this.run(id).then((record) => {
      if (!isFinal(record.status) || record.hasOutputs === false) return undefined;
      let pending = this.outputs.get(record.id);
      if (pending === undefined) {
        pending = this.download(record).catch((error: unknown) => {
          this.outputs.delete(record.id);
          throw error;
        });
        this.outputs.set(record.id, pending);
      }
      return pending;
    });
  }

  private async download(record: RunRecord): Promise<string> {
    this.outputsDir ??= mkdtemp(path.join(os.tmpdir(), 'ferry-ui-outputs-'));
    const dir = path.join(await this.outputsDir, record.id);
    const executor = await executorOf(this.context, record);
    await executor.downloadOutputs(record.id, dir);
    // The executor marks a full download in the record, which `ferry rm` trusts to drop a run's
    // outputs; this copy is the UI's and goes away with it, so the mark is put back as it was.
    const store = await this.context.records();
    const current = await store.get(record.id);
    if (current !== undefined && current.outputsDownloadedTo !== record.outputsDownloadedTo) {
      await store.put({ ...current, outputsDownloadedTo: record.outputsDownloadedTo });
    }
    return dir;
  }

  /** The package the run used, when this machine kept it (`<workDir>/packages/<uid>.tar.gz`). */
  async packageFile(id: string): Promise<string | undefined> {
    const record = await this.run(id);
    const file = packagePath((await this.context.config()).workDir, record.uid);
    return existsSync(file) ? file : undefined;
  }

  async stop(id: string): Promise<RunRecord> {
    return stopRun(this.context, await this.run(id));
  }

  async stopSweep(sweepId: string): Promise<readonly RunRecord[]> {
    const runs = (await this.runs()).records.filter((r) => r.sweepId === sweepId);
    if (runs.length === 0)
      throw new UiNotFoundError(`no sweep ${JSON.stringify(sweepId)} in the records`);
    await (await executorOf(this.context, runs[0]!)).stopSweepRunner(sweepId);
    return Promise.all(runs.map((run) => stopRun(this.context, run)));
  }

  /** Removes an ended run (its container, record and saved logs); `outputs` as `ferry rm` takes it. */
  async remove(id: string, outputs: 'keep' | 'drop' | undefined): Promise<readonly string[]> {
    const record = await this.run(id);
    if (!isFinal(record.status) && record.status !== 'unknown') {
      throw new UiBadRequestError(`run ${id} is ${record.status}; stop it first`);
    }
    const config = await this.context.config();
    let removed: readonly string[] = [];
    if (Object.hasOwn(config.targets, record.target)) {
      const done = await (
        await this.context.executor(record.target)
      ).removeRun(record.id, {
        force: true,
        ...(outputs === undefined ? {} : { outputs }),
      });
      if (done.keptIn !== undefined) return [...done.removed, `outputs kept in ${done.keptIn}`];
      removed = done.removed;
    }
    await (await this.context.records()).remove(record.id);
    this.outputs.delete(record.id);
    return removed.length > 0 ? removed : ['record'];
  }

  async close(): Promise<void> {
    if (this.outputsDir !== undefined) {
      await rm(await this.outputsDir, { recursive: true, force: true });
    }
  }
}
