/**
 * Exported layers, kept on this machine by diff id (the SHA-256 of the uncompressed layer tar), so
 * that a layer the local engine exported once is never exported again: the next shipment of an
 * image that has it sends it from here and stops reading the engine's `docker save` as soon as the
 * layers not here have streamed by.
 *
 * Safe across processes without a lock on the hot path: a layer is written to a private temporary
 * file, hashed as it is written, and renamed into place only when its bytes hash to its name (two
 * processes writing the same layer rename identical bytes). A reader opens its files (and touches
 * them) before it sends; an open file survives its removal. Trimming to the size bound holds a
 * lock (proper-lockfile, as builds do) so that two processes do not trim at once, and never removes
 * a file used in the last `graceMs`, so a file picked for sending is not removed before it is
 * opened. What is read back is not trusted either: the remote engine checks every layer it loads
 * against the image config's diff ids, and the config against the image id.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import {
  mkdir,
  open,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  utimes,
  writeFile,
  type FileHandle,
} from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { defaultCacheDir } from '../containering/dependencies.js';
import { LayerCacheError } from './errors.js';

const DIGEST = /^sha256:([0-9a-f]{64})$/;

export interface LayerCacheOptions {
  /** Ferry's cache root (layers go to `<root>/layers`). Default: `defaultCacheDir()`. */
  readonly cacheDir?: string;
  /** Bytes the cache may hold before its least recently used layers go. Default: 8 GiB. */
  readonly maxBytes?: number;
  /** A layer used this recently is never removed by trimming. Default: one hour. */
  readonly graceMs?: number;
}

/** A cached layer opened for reading: the handle stays valid even if the file is removed. */
export interface OpenedLayer {
  readonly diffId: string;
  readonly size: number;
  readonly handle: FileHandle;
}

export class LayerCache {
  readonly dir: string;
  readonly maxBytes: number;
  readonly graceMs: number;

  constructor(options: LayerCacheOptions = {}) {
    this.dir = path.join(options.cacheDir ?? defaultCacheDir(), 'layers');
    this.maxBytes = options.maxBytes ?? 8 * 1024 * 1024 * 1024;
    this.graceMs = options.graceMs ?? 60 * 60 * 1000;
  }

  /** Where a layer lives (whether or not it is there). */
  pathOf(diffId: string): string {
    const hex = DIGEST.exec(diffId)?.[1];
    if (hex === undefined) throw new LayerCacheError(`${JSON.stringify(diffId)} is not a diff id`);
    return path.join(this.dir, 'sha256', hex);
  }

  /** Opens a cached layer (and marks it used); undefined when it is not cached. */
  async open(diffId: string): Promise<OpenedLayer | undefined> {
    const file = this.pathOf(diffId);
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new LayerCacheError(`cannot read the cached layer ${file}: ${String(error)}`, {
        cause: error,
      });
    }
    const now = new Date();
    await utimes(file, now, now);
    return { diffId, size: (await handle.stat()).size, handle };
  }

  /**
   * The config of image `imageId` (classic store: its digest is the id), when this cache kept it
   * and it still hashes to the id: with every layer cached too, an image ships without any export.
   */
  async config(imageId: string): Promise<Buffer | undefined> {
    const hex = DIGEST.exec(imageId)?.[1];
    if (hex === undefined) return undefined;
    const file = path.join(this.dir, 'configs', hex);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new LayerCacheError(`cannot read the cached config ${file}: ${String(error)}`, {
        cause: error,
      });
    }
    return createHash('sha256').update(bytes).digest('hex') === hex ? bytes : undefined;
  }

  /** Keeps an image config whose digest is `imageId` (checked by the caller). */
  async keepConfig(imageId: string, bytes: Buffer): Promise<void> {
    const hex = DIGEST.exec(imageId)?.[1];
    if (hex === undefined) return;
    const folder = path.join(this.dir, 'configs');
    await mkdir(folder, { recursive: true });
    const partial = path.join(folder, `.${process.pid}-${randomBytes(6).toString('hex')}`);
    await writeFile(partial, bytes);
    await rename(partial, path.join(folder, hex));
  }

  /** A writer for one layer's uncompressed bytes; `commit` puts it in place if they are `diffId`. */
  async writer(): Promise<LayerWriter> {
    const tmp = path.join(this.dir, 'tmp');
    await mkdir(tmp, { recursive: true });
    await mkdir(path.join(this.dir, 'sha256'), { recursive: true });
    const file = path.join(tmp, `${process.pid}-${randomBytes(6).toString('hex')}`);
    return new LayerWriter(this, file);
  }

  /**
   * Removes least recently used layers (not used within `graceMs`) until the cache fits its bound.
   * Skipped when another process is trimming.
   */
  async trim(now = Date.now()): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    let release: () => Promise<void>;
    try {
      release = await lockfile.lock(this.dir, {
        realpath: false,
        lockfilePath: path.join(this.dir, 'trim.lock'),
        stale: 30_000,
        retries: 0,
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ELOCKED') return;
      throw error;
    }
    try {
      const folder = path.join(this.dir, 'sha256');
      const names = await readdir(folder).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return [] as string[];
        throw error;
      });
      const files = (
        await Promise.all(
          names.map(async (name) => {
            const file = path.join(folder, name);
            const info = await stat(file).catch((error: NodeJS.ErrnoException) => {
              if (error.code === 'ENOENT') return undefined;
              throw error;
            });
            return info === undefined ? undefined : { file, size: info.size, used: info.mtimeMs };
          }),
        )
      ).filter((f) => f !== undefined);
      let total = files.reduce((sum, f) => sum + f.size, 0);
      for (const f of files.sort((a, b) => a.used - b.used)) {
        if (total <= this.maxBytes) break;
        if (now - f.used < this.graceMs) break;
        await rm(f.file, { force: true });
        total -= f.size;
      }
      await removeAbandonedTemporaries(path.join(this.dir, 'tmp'));
    } finally {
      await release();
    }
  }
}

/** Writes one layer to a temporary file, hashing it on the way. */
export class LayerWriter {
  private readonly hash: Hash = createHash('sha256');
  private readonly out: WriteStream;
  private readonly closed: Promise<void>;
  bytes = 0;

  constructor(
    private readonly cache: LayerCache,
    private readonly file: string,
  ) {
    this.out = createWriteStream(file, { flags: 'wx' });
    this.closed = new Promise((resolve, reject) => {
      this.out.once('close', () => resolve());
      this.out.once('error', reject);
    });
    this.closed.catch(() => undefined);
  }

  /** Writes a chunk; resolves when the file can take more. */
  async write(chunk: Buffer): Promise<void> {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (!this.out.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const onError = (error: Error): void => reject(error);
        this.out.once('error', onError);
        this.out.once('drain', () => {
          this.out.off('error', onError);
          resolve();
        });
      });
    }
  }

  /** `sha256:…` of what was written (call once, after the last write). */
  async finish(): Promise<string> {
    this.out.end();
    await this.closed;
    return `sha256:${this.hash.digest('hex')}`;
  }

  /** Puts the finished file in place as `diffId` (the digest `finish` gave). */
  async commit(diffId: string): Promise<void> {
    await rename(this.file, this.cache.pathOf(diffId));
  }

  /** Removes the temporary file. */
  async discard(): Promise<void> {
    if (!this.out.closed) this.out.destroy();
    await this.closed.catch(() => undefined);
    await rm(this.file, { force: true });
  }
}

/** Temporary files of processes that no longer run (killed mid-write). */
async function removeAbandonedTemporaries(tmp: string): Promise<void> {
  const names = await readdir(tmp).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
  for (const name of names) {
    const pid = Number(/^(\d+)-/.exec(name)?.[1]);
    if (Number.isInteger(pid) && pid > 0 && !isRunning(pid)) {
      await rm(path.join(tmp, name), { force: true });
    }
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
