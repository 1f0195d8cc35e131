import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { PackageInfo } from '../packaging/index.js';

/** Where the CLI keeps every package a run used: `<workDir>/packages/<uid>.tar.gz`. */
export function packagePath(workDir: string, uid: string): string {
  return path.join(workDir, 'packages', `${uid}.tar.gz`);
}

/** Keeps a package under the work folder (copying it there when made elsewhere); returns its SHA-256. */
export async function keepPackage(
  workDir: string,
  info: PackageInfo,
): Promise<{ path: string; sha256: string }> {
  const kept = packagePath(workDir, info.uid);
  if (path.resolve(info.path) !== kept) {
    await mkdir(path.dirname(kept), { recursive: true });
    await copyFile(info.path, kept);
  }
  return { path: kept, sha256: await sha256File(kept) };
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
