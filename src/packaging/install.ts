/**
 * Installing a package archive: its manifest (the first entry) is read and checked completely,
 * then every other entry is checked against it as it streams by (a listed path, the declared
 * size, the SHA-256) and written under a staging folder, which is renamed into place. Anything
 * wrong stops the read at once and leaves nothing behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  TarFormatError,
  TarLimitError,
  readTar,
  type TarEntryInfo,
  type TarReadLimits,
} from '../tar/index.js';
import { EntryPoint } from './entryPoint.js';
import { PackageIntegrityError } from './errors.js';
import { isIntact } from './installedFiles.js';
import { MANIFEST_FILE, PACKAGE_LIMITS, parseManifest, type PackageManifest } from './manifest.js';
import { ownValue, pathInside, unsafePathReason } from './safeNames.js';

export interface InstallPackageOptions {
  /** Folder packages are installed under, one folder per UID. Default: `.ferry/packages` in the working directory. */
  readonly installRoot?: string;
  /**
   * A `node_modules` folder the bundles' npm imports resolve from, linked as `<installRoot>/node_modules`
   * when that does not exist yet. Default: none (an install root inside the project finds the project's own).
   */
  readonly nodeModules?: string;
}

export interface InstalledPackage {
  /** `<installRoot>/<uid>`. */
  readonly dir: string;
  readonly manifest: PackageManifest;
}

/** Tar overhead an entry may add besides its data: its header, a PAX header and its records, padding. */
const ENTRY_OVERHEAD = 4 * 512;
/**
 * Room for end-of-archive blocks, record padding (tar(1) pads to 10 kB) and what gunzip reads ahead
 * (a few of its 1 MiB chunks: see tar/read.ts).
 */
const ARCHIVE_SLACK = 8 * 1024 * 1024;
/**
 * Reads and writes of a few MiB: with Node's defaults (64 KiB, 16 KiB) a payload's side-car is
 * thousands of trips through libuv's thread pool.
 */
const IO_BATCH = 4 * 1024 * 1024;
/** How often a parallel install that found another one's copy in its way tries again. */
const PLACE_ATTEMPTS = 8;

/**
 * Extracts a package safely into `<installRoot>/<uid>`, refusing it when its manifest is not
 * valid, when an entry is not a listed plain file of the declared size and SHA-256, or when a
 * listed file is missing. Several installs of one package into one root may run at once: each
 * unpacks into its own staging folder, and the first to finish puts its copy in place.
 */
export async function installPackage(
  packagePath: string,
  options: InstallPackageOptions = {},
): Promise<InstalledPackage> {
  const installRoot = path.resolve(options.installRoot ?? path.join('.ferry', 'packages'));
  await mkdir(installRoot, { recursive: true });
  if (options.nodeModules !== undefined) {
    await linkNodeModules(installRoot, path.resolve(options.nodeModules));
  }
  const staging = path.join(installRoot, `.staging-${randomBytes(6).toString('hex')}`);
  try {
    const manifest = await extractPackage(packagePath, staging);
    const dir = pathInside(installRoot, manifest.uid, `${packagePath}: manifest field uid`);
    await placeInstall(staging, dir);
    return { dir, manifest };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Extracts, verifies and loads a package: the short way to get at its resources. */
export async function installPackageAndGetLoader(
  packagePath: string,
  options: InstallPackageOptions = {},
): Promise<EntryPoint> {
  const { dir, manifest } = await installPackage(packagePath, options);
  return new EntryPoint(dir, manifest);
}

/** Streams the archive into `staging`, checking each entry against the manifest read first. */
async function extractPackage(packagePath: string, staging: string): Promise<PackageManifest> {
  let manifest: PackageManifest | undefined;
  const seen = new Set<string>();
  let limits: TarReadLimits = {
    maxEntries: 1,
    maxBytes: PACKAGE_LIMITS.manifestBytes + ENTRY_OVERHEAD + ARCHIVE_SLACK,
  };
  const refuse = (message: string): never => {
    throw new PackageIntegrityError(packagePath, message);
  };
  const source = createReadStream(packagePath, { highWaterMark: IO_BATCH });
  await new Promise<void>((resolve, reject) => {
    source.once('open', () => resolve());
    source.once('error', reject);
  });
  await mkdir(staging, { recursive: true });
  try {
    await readTar(
      source,
      { gzip: true, name: packagePath, limits: () => limits },
      async (entry, body) => {
        const problem = entryProblem(entry);
        if (problem !== undefined) refuse(`refused: ${problem}`);
        if (manifest === undefined) {
          if (entry.path !== MANIFEST_FILE) {
            refuse(
              `the first entry is '${entry.path}', not ${MANIFEST_FILE}; this is not a Ferry package (or one made by an older Ferry: package it again)`,
            );
          }
          if (entry.size > PACKAGE_LIMITS.manifestBytes) {
            refuse(
              `${MANIFEST_FILE} is ${entry.size} bytes, more than ${PACKAGE_LIMITS.manifestBytes}; refused`,
            );
          }
          const bytes = await readAll(body);
          manifest = parseManifest(bytes.toString('utf8'), packagePath);
          await writeBytes(pathInside(staging, MANIFEST_FILE, packagePath), bytes);
          const files = Object.keys(manifest.files);
          const dataBytes = Object.values(manifest.sizes).reduce(
            (sum, size) => sum + Math.ceil(size / 512) * 512,
            0,
          );
          limits = {
            maxEntries: 1 + files.length,
            maxBytes: entry.size + (files.length + 1) * ENTRY_OVERHEAD + dataBytes + ARCHIVE_SLACK,
          };
          return;
        }
        const expected = ownValue(manifest.files, entry.path);
        if (expected === undefined)
          refuse(`'${entry.path}' is not listed in the manifest; refused`);
        if (seen.has(entry.path)) refuse(`'${entry.path}' appears twice in the archive; refused`);
        seen.add(entry.path);
        const size = ownValue(manifest.sizes, entry.path);
        if (entry.size !== size) {
          refuse(
            `'${entry.path}' is ${entry.size} bytes in the archive but ${size ?? 'unknown'} in its manifest; refused`,
          );
        }
        const target = pathInside(staging, entry.path, packagePath);
        const actual = await writeHashed(target, body);
        if (actual !== expected) {
          refuse(
            `'${entry.path}' does not match the SHA-256 in its manifest; the package was altered, refused`,
          );
        }
      },
    );
  } catch (error) {
    if (error instanceof TarFormatError || error instanceof TarLimitError) {
      throw new PackageIntegrityError(packagePath, error.message.replace(`${packagePath}: `, ''), {
        cause: error,
      });
    }
    throw error;
  }
  if (manifest === undefined) refuse(`the archive is empty; this is not a Ferry package`);
  const complete = manifest as PackageManifest;
  for (const file of Object.keys(complete.files)) {
    if (!seen.has(file)) refuse(`'${file}' is listed in the manifest but missing`);
  }
  return complete;
}

/** Why an entry may never be extracted, whatever the manifest says. */
function entryProblem(entry: TarEntryInfo): string | undefined {
  if (entry.kind !== 'file') {
    return `entry '${entry.path}' is a ${entry.kind}; packages hold only plain files`;
  }
  const reason = unsafePathReason(entry.path);
  return reason === undefined
    ? undefined
    : `entry ${reason.startsWith("'") ? reason : `'${entry.path}': ${reason}`}`;
}

/**
 * Puts a verified staging copy at `dir`. When another install got there first (a parallel install
 * of the same package: the rename finds a folder in its way), its copy stays if it is intact;
 * a copy that is not (left by an older Ferry, or altered since) is swapped for this one.
 */
async function placeInstall(staging: string, dir: string): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await rename(staging, dir);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EISDIR') throw error;
    }
    if (await isIntact(dir)) return;
    if (attempt === PLACE_ATTEMPTS) {
      throw new PackageIntegrityError(
        dir,
        `an installed copy is in the way and fails verification, and ${PLACE_ATTEMPTS} attempts to replace it lost to other installs; remove the folder and install again`,
      );
    }
    const stale = `${dir}.stale-${randomBytes(6).toString('hex')}`;
    try {
      await rename(dir, stale);
    } catch (error) {
      // Another install moved it first: try again from the top.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      continue;
    }
    await rm(stale, { recursive: true, force: true });
  }
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function writeBytes(target: string, bytes: Buffer): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  await pipeline([bytes], createWriteStream(target, { flags: 'wx' }));
}

/** Writes the entry's bytes to `target` (which must not exist yet) and returns their SHA-256. */
async function writeHashed(target: string, body: Readable): Promise<string> {
  await mkdir(path.dirname(target), { recursive: true });
  const hash = createHash('sha256');
  await pipeline(
    body,
    async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        hash.update(chunk);
        yield chunk;
      }
    },
    createWriteStream(target, { flags: 'wx', highWaterMark: IO_BATCH }),
  );
  return hash.digest('hex');
}

async function linkNodeModules(installRoot: string, nodeModules: string): Promise<void> {
  const link = path.join(installRoot, 'node_modules');
  const existing = await lstat(link).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (existing !== undefined) return;
  await symlink(nodeModules, link, 'dir').catch((error: NodeJS.ErrnoException) => {
    // A parallel install linked it first.
    if (error.code !== 'EEXIST') throw error;
  });
}
