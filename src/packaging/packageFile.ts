/** A package archive as a file a project keeps: where it lives and what its bytes hash to. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';

/** Where a project keeps every package a run used: `<workDir>/packages/<uid>.tar.gz`. */
export function packagePath(workDir: string, uid: string): string {
  return path.join(workDir, 'packages', `${uid}.tar.gz`);
}

/** The SHA-256 of a file's bytes, as lowercase hex, read as a stream. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
