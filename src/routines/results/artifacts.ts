/**
 * Reading what a run brought home, wherever its run folder is: in its container (through the Docker
 * API's archive endpoint, local or over SSH; works on stopped containers, no shell) or on this
 * machine (attached runs, and runs whose container was removed, saved beside their record).
 * Archives from a container are untrusted: only plain files and folders are extracted, inside the
 * destination; everything streams, so large outputs never sit whole in memory.
 */
import { ATTEMPTS_FILE } from '../attempts.js';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathInside } from '../../packaging/safeNames.js';
import { readTar, type TarReadLimits } from '../../tar/index.js';
import { DownloadDestinationExistsError } from './errors.js';
import {
  CONTAINER_RUN_DIR,
  METRICS_FILE,
  OUTPUTS_FOLDER,
  RESULT_BLOBS_FILE,
  RESULT_DOCUMENT_FILE,
  RESULT_ERROR_FILE,
  RESULT_FOLDER,
  type ResultErrorFile,
} from './layout.js';

/** How far a download has come. */
export interface DownloadProgress {
  /** Bytes of file content written so far. */
  readonly bytes: number;
  /** Files written so far. */
  readonly files: number;
  /** The file being written. */
  readonly file?: string;
}

export interface DownloadOptions {
  /** Told as files arrive (at most every 64 KiB of data and on every new file). */
  readonly onProgress?: (progress: DownloadProgress) => void;
}

/** A finished download. */
export interface DownloadedOutputs {
  readonly dir: string;
  readonly files: number;
  readonly bytes: number;
}

/** A run's serialized result as stored: the document and its side-car bytes, or why there is none. */
export type StoredResult =
  { readonly document: unknown; readonly blobs: Buffer } | { readonly error: string };

/** A run folder, wherever it is. */
export interface RunArtifacts {
  /** The stored result; undefined when the run wrote none. */
  readResult(): Promise<StoredResult | undefined>;
  /** The text of `metrics.jsonl`; undefined when the run logged no metric. */
  readMetrics(): Promise<string | undefined>;
  /** The text of `attempts.jsonl` (each attempt's start and end); undefined when none was written. */
  readAttempts(): Promise<string | undefined>;
  /** Whether the outputs folder holds any file. */
  hasOutputs(): Promise<boolean>;
  /** Whether the run left a (deliverable) result. */
  hasResult(): Promise<boolean>;
  /** Copies the outputs folder to `dir` (which must not exist); undefined when there is none. */
  downloadOutputs(dir: string, options?: DownloadOptions): Promise<DownloadedOutputs | undefined>;
  /** Copies the whole run folder to a local `runDir` (replacing it); false when there is none. */
  saveTo(runDir: string): Promise<boolean>;
}

/** What the container side needs of dockerode: archive reads, and a way to name its failures. */
export interface ArchiveSource {
  /** A tar stream of `path` in the container; undefined when the container has no such path. */
  archive(path: string): Promise<NodeJS.ReadableStream | undefined>;
}

/** The run folder inside a run's container. */
export class ContainerArtifacts implements RunArtifacts {
  constructor(private readonly source: ArchiveSource) {}

  async readResult(): Promise<StoredResult | undefined> {
    return this.viaTemporary(RESULT_FOLDER, (dir) => readStoredResult(dir));
  }

  async readMetrics(): Promise<string | undefined> {
    return this.viaTemporary(METRICS_FILE, async (dir) =>
      readFile(path.join(dir, METRICS_FILE), 'utf8'),
    );
  }

  async readAttempts(): Promise<string | undefined> {
    return this.viaTemporary(ATTEMPTS_FILE, async (dir) =>
      readFile(path.join(dir, ATTEMPTS_FILE), 'utf8'),
    );
  }

  async hasResult(): Promise<boolean> {
    const stream = await this.source.archive(
      `${CONTAINER_RUN_DIR}/${RESULT_FOLDER}/${RESULT_DOCUMENT_FILE}`,
    );
    (stream as (NodeJS.ReadableStream & { destroy?: () => void }) | undefined)?.destroy?.();
    return stream !== undefined;
  }

  async hasOutputs(): Promise<boolean> {
    const stream = await this.source.archive(`${CONTAINER_RUN_DIR}/${OUTPUTS_FOLDER}`);
    if (stream === undefined) return false;
    let found = false;
    await readTar(
      asReadable(stream),
      { gzip: false, name: `${OUTPUTS_FOLDER} of the run`, limits: () => RUN_ARCHIVE_LIMITS },
      async (entry) => {
        found = entry.kind === 'file' || entry.kind === 'contiguous-file';
        // One file is enough: a large folder need not travel.
        return found ? 'stop' : undefined;
      },
    );
    return found;
  }

  async downloadOutputs(
    dir: string,
    options: DownloadOptions = {},
  ): Promise<DownloadedOutputs | undefined> {
    const target = path.resolve(dir);
    await refuseExisting(target);
    const stream = await this.source.archive(`${CONTAINER_RUN_DIR}/${OUTPUTS_FOLDER}`);
    if (stream === undefined) return undefined;
    const partial = await partialFolder(target);
    const counted = await extractArchive(stream, partial, 1, options.onProgress);
    await completeDownload(partial, target);
    return { dir: target, ...counted };
  }

  async saveTo(runDir: string): Promise<boolean> {
    const stream = await this.source.archive(CONTAINER_RUN_DIR);
    if (stream === undefined) return false;
    const target = path.resolve(runDir);
    const partial = await partialFolder(target);
    await extractArchive(stream, partial, 1);
    await rm(target, { recursive: true, force: true });
    await rename(partial, target);
    return true;
  }

  /** Extracts one entry of the run folder into a temporary folder, reads it, removes the folder. */
  private async viaTemporary<T>(
    name: string,
    read: (dir: string) => Promise<T>,
  ): Promise<T | undefined> {
    const stream = await this.source.archive(`${CONTAINER_RUN_DIR}/${name}`);
    if (stream === undefined) return undefined;
    const dir = await mkdtemp(path.join(tmpdir(), 'ferry-result-'));
    try {
      await extractArchive(stream, dir, 0);
      return await read(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/** A run folder on this machine (`<workDir>/runs/<runId>/`). */
export class FolderArtifacts implements RunArtifacts {
  constructor(readonly runDir: string) {}

  async readResult(): Promise<StoredResult | undefined> {
    if (!(await exists(path.join(this.runDir, RESULT_FOLDER)))) return undefined;
    return readStoredResult(this.runDir);
  }

  async readMetrics(): Promise<string | undefined> {
    return readFile(path.join(this.runDir, METRICS_FILE), 'utf8').catch(ifMissing(undefined));
  }

  async readAttempts(): Promise<string | undefined> {
    return readFile(path.join(this.runDir, ATTEMPTS_FILE), 'utf8').catch(ifMissing(undefined));
  }

  async hasResult(): Promise<boolean> {
    return exists(path.join(this.runDir, RESULT_FOLDER, RESULT_DOCUMENT_FILE));
  }

  async hasOutputs(): Promise<boolean> {
    return (await countFiles(path.join(this.runDir, OUTPUTS_FOLDER))).files > 0;
  }

  async downloadOutputs(
    dir: string,
    options: DownloadOptions = {},
  ): Promise<DownloadedOutputs | undefined> {
    const source = path.join(this.runDir, OUTPUTS_FOLDER);
    if (!(await exists(source))) return undefined;
    const target = path.resolve(dir);
    await refuseExisting(target);
    const partial = await partialFolder(target);
    await cp(source, partial, { recursive: true, dereference: false, errorOnExist: true });
    const counted = await countFiles(partial);
    options.onProgress?.(counted);
    await completeDownload(partial, target);
    return { dir: target, ...counted };
  }

  async saveTo(runDir: string): Promise<boolean> {
    if (path.resolve(runDir) === path.resolve(this.runDir)) return true;
    if (!(await exists(this.runDir))) return false;
    await cp(this.runDir, runDir, { recursive: true, force: true });
    return true;
  }
}

/** Reads `result/` under `dir`: the document and blobs, or the error the run left. */
async function readStoredResult(dir: string): Promise<StoredResult | undefined> {
  const folder = path.join(dir, RESULT_FOLDER);
  const error = await readFile(path.join(folder, RESULT_ERROR_FILE), 'utf8').catch(
    ifMissing(undefined),
  );
  if (error !== undefined) {
    const parsed = JSON.parse(error) as Partial<ResultErrorFile>;
    return { error: typeof parsed.message === 'string' ? parsed.message : 'no reason given' };
  }
  const documentText = await readFile(path.join(folder, RESULT_DOCUMENT_FILE), 'utf8').catch(
    ifMissing(undefined),
  );
  if (documentText === undefined) return undefined;
  const blobs = await readFile(path.join(folder, RESULT_BLOBS_FILE)).catch(
    ifMissing(Buffer.alloc(0)),
  );
  return { document: JSON.parse(documentText) as unknown, blobs };
}

/**
 * Bounds on an archive of a run folder: generous (outputs may be large), but a container cannot make
 * Ferry read forever.
 */
const RUN_ARCHIVE_LIMITS: TarReadLimits = { maxEntries: 1_000_000, maxBytes: 2 ** 50 };

/** dockerode hands back old-style streams; the tar reader wants a `Readable`. */
function asReadable(stream: NodeJS.ReadableStream): Readable {
  return stream instanceof Readable ? stream : Readable.from(stream);
}

/**
 * Extracts a tar stream into `dir`, dropping the first `strip` path segments and keeping only regular
 * files and folders (no links, devices or paths outside `dir`). Strict: a cut stream or a truncated
 * archive is an error, never a quiet partial.
 */
async function extractArchive(
  stream: NodeJS.ReadableStream,
  dir: string,
  strip: number,
  onProgress?: (progress: DownloadProgress) => void,
): Promise<{ files: number; bytes: number }> {
  await mkdir(dir, { recursive: true });
  let files = 0;
  let bytes = 0;
  let reported = 0;
  const report = (file?: string): void => {
    reported = bytes;
    onProgress?.({ bytes, files, ...(file === undefined ? {} : { file }) });
  };
  const name = 'the archive of the run folder';
  await readTar(
    asReadable(stream),
    { gzip: false, name, limits: () => RUN_ARCHIVE_LIMITS },
    async (entry, body) => {
      const relative = entry.path.replace(/\/+$/, '').split('/').slice(strip).join('/');
      if (relative === '') return;
      if (entry.kind === 'directory') {
        await mkdir(pathInside(dir, relative, name), { recursive: true });
        return;
      }
      if (entry.kind !== 'file' && entry.kind !== 'contiguous-file') return;
      const target = pathInside(dir, relative, name);
      await mkdir(path.dirname(target), { recursive: true });
      files += 1;
      report(relative);
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          bytes += chunk.length;
          if (bytes - reported >= 65536) report(relative);
          done(null, chunk);
        },
      });
      await pipeline(body, counter, createWriteStream(target, { flags: 'wx' }));
    },
  );
  const counted = await countFiles(dir);
  bytes = counted.bytes;
  report();
  return counted;
}

/** Files and bytes under a folder (0 when it does not exist). */
async function countFiles(dir: string): Promise<{ files: number; bytes: number }> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(ifMissing([]));
  let files = 0;
  let bytes = 0;
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    files += 1;
    bytes += (await stat(path.join(entry.parentPath, entry.name))).size;
  }
  return { files, bytes };
}

async function refuseExisting(target: string): Promise<void> {
  if (await exists(target)) {
    throw new DownloadDestinationExistsError(
      `${target} already exists; download into a new folder (or remove it first)`,
    );
  }
}

/** A fresh `<target>.partial-<random>` beside the target: never mistaken for a finished copy. */
async function partialFolder(target: string): Promise<string> {
  await mkdir(path.dirname(target), { recursive: true });
  return `${target}.partial-${randomBytes(4).toString('hex')}`;
}

/** Renames the finished copy into place and removes partial copies an earlier cut left. */
async function completeDownload(partial: string, target: string): Promise<void> {
  await rename(partial, target);
  const parent = path.dirname(target);
  const prefix = `${path.basename(target)}.partial-`;
  for (const name of await readdir(parent)) {
    if (name.startsWith(prefix))
      await rm(path.join(parent, name), { recursive: true, force: true });
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(() => true, ifMissing(false));
}

function ifMissing<T>(value: T): (error: NodeJS.ErrnoException) => T {
  return (error) => {
    if (error.code === 'ENOENT') return value;
    throw error;
  };
}
