/**
 * Identical builds at the same time build once: a build of one content on one engine holds a lock
 * (a lock folder, from proper-lockfile, which also notices the lock of a process that died), and a
 * second build of it waits, then finds the image the first one made. Works across processes, so
 * forty `ferry run -d` started together build one image.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';

/** Where build locks live: machine-wide, since every project on the machine shares its engines. */
const LOCK_DIR = path.join(os.tmpdir(), 'ferry-build-locks');

/** Runs `build` holding the lock of (`engine`, `content`); waits while another process holds it. */
export async function withBuildLock<T>(
  engine: string,
  content: string,
  build: () => Promise<T>,
): Promise<T> {
  await mkdir(LOCK_DIR, { recursive: true });
  const key = createHash('sha256').update(`${engine}\n${content}`).digest('hex').slice(0, 32);
  const release = await lockfile.lock(path.join(LOCK_DIR, key), {
    realpath: false,
    // A holder refreshes its lock every few seconds; one not refreshed for 30 s died.
    stale: 30_000,
    update: 5_000,
    // A first build with npm dependencies can take minutes: wait up to about 30 min.
    retries: { retries: 3600, factor: 1, minTimeout: 500, maxTimeout: 500 },
  });
  try {
    return await build();
  } finally {
    await release();
  }
}

const BUILD_FOLDER = /^\.build-(\d+)-/;

/** A fresh name prefix for this process's build folders under a work folder. */
export function buildFolderPrefix(parent: string): string {
  return path.join(parent, `.build-${process.pid}-`);
}

/**
 * Removes build folders a process left behind when it was killed mid-build (its pid is in the
 * folder's name and no longer runs). Folders of live processes are theirs.
 */
export async function removeAbandonedBuildFolders(parent: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(parent);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  await Promise.all(
    names
      .filter((name) => {
        const pid = BUILD_FOLDER.exec(name)?.[1];
        return pid !== undefined && !isRunning(Number(pid));
      })
      .map((name) => rm(path.join(parent, name), { recursive: true, force: true })),
  );
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
