/**
 * What every kind of run does to bring its work home, over its run folder (artifacts.ts): the
 * result rebuilt as live objects, the metrics, the outputs downloaded. The run classes (Docker,
 * attached, recorded) delegate here, so the answers and errors are the same on every target.
 */
import path from 'node:path';
import { installPackage } from '../../packaging/install.js';
import { packagePath } from '../../packaging/packageFile.js';
import { registerTypeScriptLoader } from '../../packaging/importModule.js';
import { deserializeValue, type ResultBinding } from '../../packaging/resultDocument.js';
import { PackageNotAvailableError } from '../errors.js';
import type { JobStatus } from '../jobExecutor.js';
import type { DownloadOptions, DownloadedOutputs, RunArtifacts } from './artifacts.js';
import {
  OutputsNotAvailableError,
  ResultNotAvailableError,
  ResultNotSerializableError,
  RunFailedError,
} from './errors.js';
import { parseMetrics, type RunMetrics } from './metrics.js';

export interface ResultOptions {
  /**
   * Whose classes the result's instances get: `source` (default), the caller's current source
   * (the executor's packaging task's source root), as `rebindTo` does; `package`, the run's own
   * package (kept in `<workDir>/packages/<uid>.tar.gz`), in its own namespace.
   */
  readonly bind?: 'source' | 'package';
}

/** Where an executor finds the classes a run's result is rebuilt with. */
export interface ResultSources {
  binding(runId: string, bind: 'source' | 'package'): Promise<ResultBinding>;
}

/** The parts of a run its results need: its id, its state, its folder. */
export interface RunResultsFields {
  readonly runId: string;
  readonly status: () => Promise<JobStatus>;
  /** Where the run folder is now (it moves when a container is removed). */
  readonly artifacts: () => Promise<RunArtifacts>;
  readonly sources?: ResultSources;
  /** Told after a download completed (so the record can say the outputs are safe). */
  readonly onDownloaded?: (dir: string) => Promise<void>;
}

/** A result as stored: the serializer's JSON document and its side-car bytes. */
export interface SerializedResult {
  readonly document: unknown;
  readonly blobs: Buffer;
}

/** The result, metrics and outputs of one run. */
export class RunResults {
  constructor(private readonly fields: RunResultsFields) {}

  /** The stored result; a typed error saying why when there is none. */
  async serializedResult(): Promise<SerializedResult> {
    const { runId } = this.fields;
    const stored = await (await this.fields.artifacts()).readResult();
    if (stored === undefined) throw await this.noResult();
    if ('error' in stored) {
      throw new ResultNotSerializableError(
        `run ${runId} completed, but its result could not be delivered: ${stored.error}`,
      );
    }
    return stored;
  }

  /** The run's result as live objects; a typed error saying why when there is none. */
  async result(options: ResultOptions = {}): Promise<unknown> {
    const { runId } = this.fields;
    const stored = await this.serializedResult();
    const sources = this.fields.sources;
    if (sources === undefined) {
      throw new ResultNotAvailableError(
        `run ${runId}: this handle knows no source or package to rebuild its result with; look the run up through its executor`,
      );
    }
    const binding = await sources.binding(runId, options.bind ?? 'source');
    // Bound to the caller's source, the result's classes are imported from it, which may be
    // TypeScript: this process needs the loader a job module gets (a package's bundle is JavaScript).
    if ('sourceRoot' in binding) await registerTypeScriptLoader();
    return deserializeValue(stored, binding);
  }

  async metrics(): Promise<RunMetrics> {
    const text = await (await this.fields.artifacts()).readMetrics();
    const { points, last } = parseMetrics(text ?? '');
    return { points, last };
  }

  async downloadOutputs(dir: string, options: DownloadOptions = {}): Promise<DownloadedOutputs> {
    const downloaded = await (await this.fields.artifacts()).downloadOutputs(dir, options);
    if (downloaded === undefined) {
      throw new OutputsNotAvailableError(
        `run ${this.fields.runId} has no outputs folder (it never started, or ran with a Ferry that kept none)`,
      );
    }
    await this.fields.onDownloaded?.(downloaded.dir);
    return downloaded;
  }

  private async noResult(): Promise<ResultNotAvailableError> {
    const { runId } = this.fields;
    const status = await this.fields.status();
    const logs = `(\`ferry logs ${runId}\` tells why)`;
    switch (status.state) {
      case 'created':
      case 'running':
        return new ResultNotAvailableError(
          `run ${runId} is ${status.state === 'created' ? 'queued' : 'still running'}; its result comes once it completed (await run.wait())`,
        );
      case 'failed':
        return new RunFailedError(
          `run ${runId} failed (exit code ${status.exitCode ?? 'unknown'}), so it has no result ${logs}`,
        );
      case 'stopped':
        return new RunFailedError(`run ${runId} was stopped before it completed: no result`);
      default:
        return new ResultNotAvailableError(
          `run ${runId} has no result: its run folder holds none (its container may be gone without it being saved) ${logs}`,
        );
    }
  }
}

/** Sources for executors with a work folder: the packaging task's source root, the kept package. */
export function workDirSources(fields: {
  readonly workDir: string | undefined;
  readonly sourceRoot: () => string | undefined;
  readonly uidOf: (runId: string) => Promise<string | undefined>;
}): ResultSources {
  return {
    async binding(runId, bind) {
      const sourceRoot = bind === 'source' ? fields.sourceRoot() : undefined;
      if (sourceRoot !== undefined) return { sourceRoot };
      const uid = await fields.uidOf(runId);
      if (fields.workDir === undefined || uid === undefined) {
        throw new PackageNotAvailableError(
          `run ${runId}: no source root is known here and no package is kept for it (give the executor a packagingTask or a workDir)`,
        );
      }
      const file = packagePath(fields.workDir, uid);
      const installed = await installPackage(file, {
        installRoot: path.join(fields.workDir, 'installed'),
      }).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
        throw new PackageNotAvailableError(
          `run ${runId}: its package ${file} is not kept here, so its result cannot be bound to it; use bind: 'source'`,
          { cause: error },
        );
      });
      return { packageDir: installed.dir, manifest: installed.manifest };
    },
  };
}

/** What a run's record says about its results once it ended. */
export interface ResultsSummary {
  readonly metrics?: Readonly<Record<string, number>>;
  readonly hasResult: boolean;
  readonly hasOutputs: boolean;
}

/** Reads the summary a record keeps: the last value of each metric, whether there is a result and outputs. */
export async function summarize(artifacts: RunArtifacts): Promise<ResultsSummary> {
  const [text, hasResult, hasOutputs] = await Promise.all([
    artifacts.readMetrics(),
    artifacts.hasResult(),
    artifacts.hasOutputs(),
  ]);
  const { last } = parseMetrics(text ?? '');
  return {
    ...(Object.keys(last).length === 0 ? {} : { metrics: { ...last } }),
    hasResult,
    hasOutputs,
  };
}
