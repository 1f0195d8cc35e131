/** Reading the package folder out of a run's container (or an image's), through the Docker API. */
import path from 'node:path';
import type { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import type Dockerode from 'dockerode';
import { PACKAGE_DIR } from '../../containering/buildContext.js';
import { PACKAGE_LIMITS } from '../../packaging/manifest.js';
import { readTar } from '../../tar/index.js';

/**
 * The files under the image's package folder, by path relative to it. The archive comes from a
 * target, so it is read within a package's own bounds; a manifest check follows.
 */
export async function readPackageFolder(
  container: Dockerode.Container,
): Promise<Map<string, Buffer>> {
  const stream = (await container.getArchive({ path: PACKAGE_DIR })) as unknown as Readable;
  const files = new Map<string, Buffer>();
  const prefix = `${path.posix.basename(PACKAGE_DIR)}/`;
  await readTar(
    stream,
    {
      gzip: false,
      name: `${PACKAGE_DIR} of container ${container.id.slice(0, 12)}`,
      // The manifest and files, plus the folders holding them.
      limits: () => ({
        maxEntries: 2 * PACKAGE_LIMITS.files + 1,
        maxBytes: PACKAGE_LIMITS.totalBytes,
      }),
    },
    async (entry, body) => {
      if (entry.kind === 'file' && entry.path.startsWith(prefix)) {
        files.set(entry.path.slice(prefix.length), await buffer(body));
      }
    },
  );
  return files;
}
