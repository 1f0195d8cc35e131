import { randomBytes } from 'node:crypto';
import { readFile, mkdir, rename, rm, symlink, lstat } from 'node:fs/promises';
import path from 'node:path';
import { extractSafely } from './archive.js';
import { EntryPoint } from './entryPoint.js';
import { PackageIntegrityError } from './errors.js';
import {
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  contentHash,
  makeUid,
  sha256,
  type PackageManifest,
} from './manifest.js';

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

/**
 * Extracts a package safely into `<installRoot>/<uid>`, refusing it when any file's SHA-256 differs
 * from its manifest or the UID does not match the content. The package is unpacked beside the
 * target and renamed into place, so a refused or interrupted install leaves nothing behind.
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
    const extracted = await extractSafely(packagePath, staging);
    const manifest = await verifyInstalledFiles(staging, extracted, packagePath);
    const dir = path.join(installRoot, manifest.uid);
    if (!(await isDirectory(dir))) {
      await rename(staging, dir);
    } else if (!(await isIntact(dir))) {
      // Left by an older Ferry, or altered since: the copy just verified takes its place.
      const stale = `${dir}.stale-${randomBytes(6).toString('hex')}`;
      await rename(dir, stale);
      await rename(staging, dir);
      await rm(stale, { recursive: true, force: true });
    }
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

/** Loads a package installed earlier (e.g. inside a container image); `verify` re-checks every hash. */
export async function loadInstalledPackage(
  dir: string,
  options: { readonly verify?: boolean } = {},
): Promise<EntryPoint> {
  const manifest = options.verify
    ? await verifyInstalledFiles(dir, undefined, dir)
    : await readManifest(dir, dir);
  return new EntryPoint(path.resolve(dir), manifest);
}

/**
 * Checks the manifest against the files in `dir`: every listed file present with its hash, no file
 * unlisted (when the extracted list is known), the UID derived from the content.
 */
async function verifyInstalledFiles(
  dir: string,
  extracted: readonly string[] | undefined,
  reportAs: string,
): Promise<PackageManifest> {
  const manifest = await readManifest(dir, reportAs);
  const listed = new Set(Object.keys(manifest.files));
  for (const file of extracted ?? []) {
    if (file !== MANIFEST_FILE && !listed.has(file)) {
      throw new PackageIntegrityError(reportAs, `'${file}' is not listed in the manifest; refused`);
    }
  }
  for (const [file, expected] of Object.entries(manifest.files)) {
    const contents = await readFile(path.join(dir, file)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') {
        throw new PackageIntegrityError(
          reportAs,
          `'${file}' is listed in the manifest but missing`,
        );
      }
      throw error;
    });
    if (sha256(contents) !== expected) {
      throw new PackageIntegrityError(
        reportAs,
        `'${file}' does not match the SHA-256 in its manifest; the package was altered, refused`,
      );
    }
  }
  const uid = makeUid(
    manifest.name,
    manifest.version,
    contentHash(
      manifest.name,
      manifest.version,
      manifest.dependencies,
      manifest.lockedDependencies,
      manifest.files,
    ),
  );
  if (uid !== manifest.uid) {
    throw new PackageIntegrityError(
      reportAs,
      `the manifest's UID ${manifest.uid} does not match its content (${uid}); refused`,
    );
  }
  return manifest;
}

/** Whether an installed package still matches its manifest. */
async function isIntact(dir: string): Promise<boolean> {
  return verifyInstalledFiles(dir, undefined, dir).then(
    () => true,
    (error: unknown) => {
      if (error instanceof PackageIntegrityError) return false;
      throw error;
    },
  );
}

async function readManifest(dir: string, reportAs: string): Promise<PackageManifest> {
  const text = await readFile(path.join(dir, MANIFEST_FILE), 'utf8').catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') {
        throw new PackageIntegrityError(
          reportAs,
          `no ${MANIFEST_FILE}; this is not a Ferry package`,
        );
      }
      throw error;
    },
  );
  const manifest = JSON.parse(text) as PackageManifest;
  if (
    manifest.format !== MANIFEST_FORMAT ||
    typeof manifest.files !== 'object' ||
    typeof manifest.modules !== 'object' ||
    typeof manifest.lockedDependencies !== 'object'
  ) {
    throw new PackageIntegrityError(reportAs, `${MANIFEST_FILE} is not a Ferry package manifest`);
  }
  for (const file of [...Object.keys(manifest.files), ...Object.values(manifest.modules)]) {
    if (path.posix.normalize(file) !== file || file.startsWith('/') || file.startsWith('..')) {
      throw new PackageIntegrityError(reportAs, `the manifest names an unsafe path '${file}'`);
    }
  }
  return manifest;
}

async function linkNodeModules(installRoot: string, nodeModules: string): Promise<void> {
  const link = path.join(installRoot, 'node_modules');
  const existing = await lstat(link).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (existing === undefined) await symlink(nodeModules, link, 'dir');
}

async function isDirectory(p: string): Promise<boolean> {
  const stats = await lstat(p).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  return stats?.isDirectory() ?? false;
}
