/**
 * The job's side of a run folder (layout.ts): the `RunContext` a job's `run()` receives, metric
 * points appended to `metrics.jsonl` (and printed as marker lines), and the returned value written
 * to `result/`. Used by the container's entry point and by attached runs alike. Synchronous file
 * writes for metrics: a point logged is on disk before the next line of the job runs, even when
 * the process is killed right after.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { resolveAsset, type RunAssets } from '../../packaging/assetPaths.js';
import { NotSerializableError } from '../../packaging/serialization/index.js';
import { serializeResource, type ClassFinder } from '../../packaging/serializeResource.js';
import { InvalidMetricError } from './errors.js';
import {
  METRICS_FILE,
  OUTPUTS_FOLDER,
  RESULT_BLOBS_FILE,
  RESULT_DOCUMENT_FILE,
  RESULT_ERROR_FILE,
  RESULT_FOLDER,
  type ResultErrorFile,
} from './layout.js';
import { metricLine, metricProblem, type MetricPoint } from './metrics.js';

/** What a job's `run(parameters, context)` receives as its second argument. */
export interface RunContext {
  readonly runId: string;
  /** The sweep this run belongs to, and its place in it. */
  readonly sweepId?: string;
  readonly sweepIndex?: number;
  /** The run's own output folder (exists): files written here are kept and brought home. */
  readonly outputDir: string;
  /** Records a metric point: stored with the run and printed as a `ferry:metric` line. */
  logMetric(name: string, value: number, options?: { readonly step?: number }): void;
  /** Prints a line to the run's log. */
  log(message: string): void;
  /**
   * The folder the job's assets are in, laid out as in the project (attached: the project root;
   * in a container: `/app/package/assets`).
   */
  readonly assetsDir: string;
  /** The job's assets, by their paths relative to the project root. */
  readonly assets: readonly string[];
  /**
   * The absolute path of an asset, named as in the project (`asset('data/train.csv')`); throws
   * `AssetNotFoundError` for a file that is not among the job's assets.
   */
  asset(relativePath: string): string;
}

export interface RunContextFields {
  readonly runId: string;
  readonly sweepId?: string;
  readonly sweepIndex?: number;
  /** The run folder (created with its `outputs/` folder). */
  readonly runDir: string;
  /** Where lines go. Default: `console.log`. */
  readonly print?: (line: string) => void;
  readonly now?: () => Date;
  /** The run's assets. Default: none, under the run folder's `assets/`. */
  readonly assets?: RunAssets;
}

/** Makes the run folder and the context over it. */
export function createRunContext(fields: RunContextFields): RunContext {
  const outputDir = path.join(fields.runDir, OUTPUTS_FOLDER);
  mkdirSync(outputDir, { recursive: true });
  const metricsFile = path.join(fields.runDir, METRICS_FILE);
  const print = fields.print ?? ((line: string) => console.log(line));
  const now = fields.now ?? (() => new Date());
  // Null prototype: metric names are the job's strings.
  const steps = Object.create(null) as Record<string, number>;
  const assets: RunAssets = fields.assets ?? {
    root: path.join(fields.runDir, 'assets'),
    files: [],
  };
  return Object.freeze({
    runId: fields.runId,
    ...(fields.sweepId === undefined ? {} : { sweepId: fields.sweepId }),
    ...(fields.sweepIndex === undefined ? {} : { sweepIndex: fields.sweepIndex }),
    outputDir,
    logMetric(name: string, value: number, options: { readonly step?: number } = {}): void {
      const problem = metricProblem(name, value, options.step);
      if (problem !== undefined) throw new InvalidMetricError(`logMetric: ${problem}`);
      const step = options.step ?? steps[name] ?? 0;
      steps[name] = step + 1;
      const point: MetricPoint = { name, value, step, at: now().toISOString() };
      appendFileSync(metricsFile, `${JSON.stringify(point)}\n`);
      print(metricLine(point));
    },
    log(message: string): void {
      print(String(message));
    },
    assetsDir: path.resolve(assets.root),
    assets: Object.freeze([...assets.files]),
    asset(relativePath: string): string {
      return resolveAsset(assets, relativePath);
    },
  });
}

/**
 * Serializes what `run()` returned into `<runDir>/result/` (written beside it and renamed into
 * place, so a result folder is always whole). A value that cannot be serialized leaves
 * `result/error.json` saying why, and the `NotSerializableError` is thrown on.
 */
export async function writeResult(
  runDir: string,
  value: unknown,
  classes: ClassFinder,
): Promise<void> {
  const folder = path.join(runDir, RESULT_FOLDER);
  const staging = `${folder}.partial`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    const { document, blobs } = await serializeResource(value, 'result', classes);
    await writeFile(path.join(staging, RESULT_BLOBS_FILE), blobs);
    await writeFile(path.join(staging, RESULT_DOCUMENT_FILE), JSON.stringify(document));
  } catch (error) {
    if (!(error instanceof NotSerializableError)) throw error;
    const why: ResultErrorFile = {
      message: `${error.message}`,
    };
    await writeFile(path.join(staging, RESULT_ERROR_FILE), JSON.stringify(why));
    await rm(folder, { recursive: true, force: true });
    await rename(staging, folder);
    throw error;
  }
  await rm(folder, { recursive: true, force: true });
  await rename(staging, folder);
}
