import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { PackageIntegrityError } from './errors.js';
import { MANIFEST_FILE, PACKAGE_LIMITS, parseManifest, type PackageManifest } from './manifest.js';
import { pathInside } from './safeNames.js';

/** Reads and checks the manifest of a package installed in `dir` (bounded: it is read first). */
export async function readInstalledManifest(
  dir: string,
  reportAs: string,
): Promise<PackageManifest> {
  const file = pathInside(dir, MANIFEST_FILE, reportAs);
  const handle = await open(file, 'r').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') {
      throw new PackageIntegrityError(reportAs, `no ${MANIFEST_FILE}; this is not a Ferry package`);
    }
    throw error;
  });
  try {
    const { size } = await handle.stat();
    if (size > PACKAGE_LIMITS.manifestBytes) {
      throw new PackageIntegrityError(
        reportAs,
        `${MANIFEST_FILE} is ${size} bytes, more than ${PACKAGE_LIMITS.manifestBytes}; refused`,
      );
    }
    return parseManifest(await handle.readFile('utf8'), reportAs);
  } finally {
    await handle.close();
  }
}

/** Checks every file the manifest lists against its size and SHA-256; returns the manifest. */
export async function verifyInstalledFiles(
  dir: string,
  reportAs: string,
): Promise<PackageManifest> {
  const manifest = await readInstalledManifest(dir, reportAs);
  for (const [file, expected] of Object.entries(manifest.files)) {
    const actual = await hashFile(pathInside(dir, file, reportAs)).catch(
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') {
          throw new PackageIntegrityError(
            reportAs,
            `'${file}' is listed in the manifest but missing`,
          );
        }
        throw error;
      },
    );
    if (actual.sha256 !== expected || actual.size !== manifest.sizes[file]) {
      throw new PackageIntegrityError(
        reportAs,
        `'${file}' does not match the SHA-256 in its manifest; the package was altered, refused`,
      );
    }
  }
  return manifest;
}

/** Whether an installed package still matches its manifest. */
export async function isIntact(dir: string): Promise<boolean> {
  return verifyInstalledFiles(dir, dir).then(
    () => true,
    (error: unknown) => {
      if (error instanceof PackageIntegrityError) return false;
      throw error;
    },
  );
}

async function hashFile(file: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.byteLength;
  }
  return { sha256: hash.digest('hex'), size };
}
