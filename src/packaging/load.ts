/**
 * Loading a package that is already installed (in a container image, or by `install.ts`): what the
 * container runtime imports. Nothing here reads an archive.
 */
import path from 'node:path';
import { EntryPoint } from './entryPoint.js';
import { readInstalledManifest, verifyInstalledFiles } from './installedFiles.js';

export { EntryPoint, type LoadResourceOptions } from './entryPoint.js';

/** Loads a package installed earlier (e.g. inside a container image); `verify` re-checks every hash. */
export async function loadInstalledPackage(
  dir: string,
  options: { readonly verify?: boolean } = {},
): Promise<EntryPoint> {
  const manifest = options.verify
    ? await verifyInstalledFiles(dir, dir)
    : await readInstalledManifest(dir, dir);
  return new EntryPoint(path.resolve(dir), manifest);
}
