import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { TarArchive } from 'archiver';
import * as tar from 'tar';
import { PackageIntegrityError } from './errors.js';

export interface ArchiveEntry {
  /** POSIX path inside the archive. */
  readonly path: string;
  readonly contents: Uint8Array;
}

/** Fixed metadata so the same entries always give the same bytes (docs/design.md §5). */
const EPOCH = new Date(0);
const FILE_MODE = 0o644;

/**
 * Writes entries, in the given order, to a gzipped tar with fixed dates, modes and owners.
 * Written beside the target and renamed into place, so a failure leaves no half-written package.
 */
export async function writeDeterministicTarGz(
  target: string,
  entries: readonly ArchiveEntry[],
): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  const partial = `${target}.partial-${process.pid}`;
  const archive = new TarArchive({ gzip: true, gzipOptions: { level: 9 } });
  for (const entry of entries) {
    archive.append(Buffer.from(entry.contents), {
      name: entry.path,
      date: EPOCH,
      mode: FILE_MODE,
    });
  }
  const written = pipeline(archive, createWriteStream(partial));
  try {
    await archive.finalize();
    await written;
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

/** Why an archive entry may not be extracted, or undefined when it is a plain file or folder inside. */
export function unsafeEntryReason(entryPath: string, type: string): string | undefined {
  if (type !== 'File' && type !== 'Directory') {
    return `entry '${entryPath}' is a ${type}; packages hold only plain files and folders`;
  }
  if (entryPath.startsWith('/') || /^[A-Za-z]:/.test(entryPath) || entryPath.includes('\\')) {
    return `entry '${entryPath}' has an absolute or non-POSIX path`;
  }
  if (entryPath.split('/').some((segment) => segment === '..')) {
    return `entry '${entryPath}' points outside the package folder ('..')`;
  }
  return undefined;
}

/**
 * Lists the archive and refuses it as a whole, by entry name, when any entry is a link, a device,
 * an absolute path or climbs out with `..`; only then extracts it into `destination`.
 */
export async function extractSafely(archivePath: string, destination: string): Promise<string[]> {
  const files: string[] = [];
  const problems: string[] = [];
  await tar.t({
    file: archivePath,
    strict: true,
    onReadEntry: (entry) => {
      const reason = unsafeEntryReason(entry.path, entry.type);
      if (reason !== undefined) problems.push(reason);
      else if (entry.type === 'File') files.push(entry.path.replace(/^\.\//, ''));
    },
  });
  if (problems.length > 0) {
    throw new PackageIntegrityError(archivePath, `refused: ${problems.join('; ')}`);
  }
  await mkdir(destination, { recursive: true });
  await tar.x({
    file: archivePath,
    cwd: destination,
    strict: true,
    preservePaths: false,
    preserveOwner: false,
    noChmod: true,
    filter: (entryPath, entry) =>
      'type' in entry ? unsafeEntryReason(entryPath, entry.type) === undefined : false,
  });
  return files.sort();
}
