import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { RunNotFoundError } from '../routines/errors.js';
import { windowLogs, windowTimedLogs, type RunSpan } from '../routines/docker/logs.js';
import type { JobLogs, LogWindow } from '../routines/jobExecutor.js';
import { AmbiguousRunIdError, RecordStoreError } from './errors.js';
import { parseRecord } from './parseRecord.js';
import type { RunRecord } from './record.js';

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * Run records as one JSON file per run in a folder (`<workDir>/runs/<id>.json`), written atomically
 * (a temporary file renamed into place), so concurrent processes never read half a record. Every
 * process working in the project (the CLI, code using `loadConfig`, a sweep's waiting CLI) sees the
 * same records; the target's containers carry a copy in their labels (`labels.ts`).
 */
export class RecordStore {
  /**
   * @param dir the records folder
   * @param onWarning told about a file that is not a run record, which listings skip
   */
  constructor(
    readonly dir: string,
    private readonly onWarning: (message: string) => void = (message) =>
      process.emitWarning(message, 'FerryWarning'),
  ) {}

  private file(id: string): string {
    if (!RUN_ID.test(id)) throw new RunNotFoundError(`${JSON.stringify(id)} is not a run id`);
    return path.join(this.dir, `${id}.json`);
  }

  async put(record: RunRecord): Promise<RunRecord> {
    await mkdir(this.dir, { recursive: true });
    const file = this.file(record.id);
    const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temporary, `${JSON.stringify(record, null, 2)}\n`);
    await rename(temporary, file);
    return record;
  }

  /** The record with exactly this id, or undefined. */
  async get(id: string): Promise<RunRecord | undefined> {
    let text: string;
    try {
      text = await readFile(this.file(id), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      if (error instanceof RunNotFoundError) return undefined;
      throw error;
    }
    return parseRecord(text, this.file(id));
  }

  /** Merges `patch` into the stored record (which must exist) and writes it back. */
  async update(id: string, patch: Partial<RunRecord>): Promise<RunRecord> {
    const current = await this.get(id);
    if (current === undefined) throw new RunNotFoundError(`no run ${id} in ${this.dir}`);
    return this.put({ ...current, ...patch, id });
  }

  /**
   * A run's folder beside its record (`<dir>/<id>/`): an attached run's outputs, result and
   * metrics, and those of a container saved before it was removed.
   */
  runDir(id: string): string {
    return this.file(id).slice(0, -'.json'.length);
  }

  /** Removes the record, the logs saved with it and its run folder. */
  async remove(id: string): Promise<void> {
    await rm(this.runDir(id), { recursive: true, force: true });
    await rm(this.attemptsDir(id), { recursive: true, force: true });
    const logs = this.logFiles(id);
    for (const file of [logs.stdout, logs.stderr]) {
      await rm(file, { force: true });
      await rm(`${file}.timed`, { force: true });
    }
    await rm(this.file(id), { force: true });
  }

  /**
   * Keeps a run's output beside its record (attached runs, and containers about to be removed).
   * `timed`: the same logs with a time at the start of each line (Docker's `timestamps`), kept too
   * so that `readLogs` can give the lines since a time.
   */
  async saveLogs(id: string, logs: JobLogs, timed?: JobLogs): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const files = this.logFiles(id);
    await writeFile(files.stdout, logs.stdout);
    await writeFile(files.stderr, logs.stderr);
    if (timed !== undefined) {
      await writeFile(`${files.stdout}.timed`, timed.stdout);
      await writeFile(`${files.stderr}.timed`, timed.stderr);
    }
  }

  /**
   * The output saved with a run, or undefined when none was. With a window: its last `tail` lines
   * of each stream, and those since a time (from the times saved with them; without, `span` says
   * whether the run was all after it, or all before).
   */
  async readLogs(
    id: string,
    window: LogWindow = {},
    span: RunSpan = { runId: id },
  ): Promise<JobLogs | undefined> {
    const files = this.logFiles(id);
    if (window.since !== undefined) {
      const [stdout, stderr] = await Promise.all([
        readIfThere(`${files.stdout}.timed`),
        readIfThere(`${files.stderr}.timed`),
      ]);
      if (stdout !== undefined) return windowTimedLogs({ stdout, stderr: stderr ?? '' }, window);
    }
    const [stdout, stderr] = await Promise.all([
      readIfThere(files.stdout),
      readIfThere(files.stderr),
    ]);
    if (stdout === undefined) return undefined;
    const logs = { stdout, stderr: stderr ?? '' };
    return window.since === undefined && window.tail === undefined
      ? logs
      : windowLogs(logs, window, span);
  }

  /** Keeps one attempt's output (a run with retries), beside the run's own logs. */
  async saveAttemptLogs(id: string, attempt: number, logs: JobLogs): Promise<void> {
    const dir = this.attemptsDir(id);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, `${attempt}.stdout`), logs.stdout);
    await writeFile(path.join(dir, `${attempt}.stderr`), logs.stderr);
  }

  /** One attempt's saved output, or undefined when none was saved. */
  async readAttemptLogs(id: string, attempt: number): Promise<JobLogs | undefined> {
    if (!Number.isInteger(attempt) || attempt < 1) return undefined;
    const dir = this.attemptsDir(id);
    const [stdout, stderr] = await Promise.all([
      readIfThere(path.join(dir, `${attempt}.stdout`)),
      readIfThere(path.join(dir, `${attempt}.stderr`)),
    ]);
    return stdout === undefined ? undefined : { stdout, stderr: stderr ?? '' };
  }

  private attemptsDir(id: string): string {
    return `${this.file(id).slice(0, -'.json'.length)}.attempts`;
  }

  private logFiles(id: string): { stdout: string; stderr: string } {
    const file = this.file(id).slice(0, -'.json'.length);
    return { stdout: `${file}.stdout`, stderr: `${file}.stderr` };
  }

  /** Every record, oldest first. */
  async list(): Promise<RunRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const records: RunRecord[] = [];
    for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
      const file = path.join(this.dir, name);
      try {
        records.push(parseRecord(await readFile(file, 'utf8'), file));
      } catch (error) {
        // A record removed between readdir and readFile is simply gone.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        // One bad file must not hide the others.
        if (!(error instanceof RecordStoreError)) throw error;
        this.onWarning(`${error.message}; skipped (remove or fix the file)`);
      }
    }
    return records.sort((a, b) =>
      a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1,
    );
  }

  /**
   * The run a user means by `id`: the exact id, else the one run whose id starts with it or ends
   * with it (the random part, e.g. `3fa2c1`). Undefined when none matches.
   */
  async resolve(id: string): Promise<RunRecord | undefined> {
    const exact = await this.get(id);
    if (exact !== undefined) return exact;
    if (id.length < 4) return undefined;
    const matches = (await this.list()).filter((r) => r.id.startsWith(id) || r.id.endsWith(id));
    if (matches.length > 1) {
      throw new AmbiguousRunIdError(
        `${id} matches ${matches.length} runs (${matches
          .slice(0, 5)
          .map((r) => r.id)
          .join(', ')}${matches.length > 5 ? ', ...' : ''}); give more of the id`,
      );
    }
    return matches[0];
  }
}

async function readIfThere(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
