/** Reading the package folder out of a run's container (or an image's), through the Docker API. */
import path from 'node:path';
import type { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import * as tar from 'tar';
import { PACKAGE_DIR } from '../../containering/buildContext.js';

/** The files under the image's package folder, by path relative to it. */
export async function readPackageFolder(
  container: Dockerode.Container,
): Promise<Map<string, Buffer>> {
  const stream = (await container.getArchive({ path: PACKAGE_DIR })) as unknown as Readable;
  const files = new Map<string, Buffer>();
  const prefix = `${path.posix.basename(PACKAGE_DIR)}/`;
  await new Promise<void>((resolve, reject) => {
    const parser = new tar.Parser({
      onReadEntry: (entry) => {
        const chunks: Buffer[] = [];
        entry.on('data', (chunk: Buffer) => chunks.push(chunk));
        entry.on('end', () => {
          if (entry.type === 'File' && entry.path.startsWith(prefix)) {
            files.set(entry.path.slice(prefix.length), Buffer.concat(chunks));
          }
        });
      },
    });
    parser.on('end', () => resolve());
    parser.on('error', reject);
    stream.on('error', reject);
    stream.pipe(parser);
  });
  return files;
}
