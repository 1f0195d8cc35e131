import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { resolveClassesFrom } from './classRegistry.js';
import { ResourceNotFoundError } from './errors.js';
import type { RunAssets } from './assetPaths.js';
import { ASSETS_FOLDER, resourceFiles, type PackageManifest } from './manifest.js';
import { ownValue, pathInside } from './safeNames.js';
import { deserialize, parseDocumentText } from './serialization/index.js';

export interface LoadResourceOptions {
  /**
   * Bind the resource's classes to this source root (the caller's current source) instead of the
   * package's namespaced bundle: the reverse of Training Grounds' `load_file_in_local_tg`.
   */
  readonly rebindTo?: string;
}

/** An installed package: its identity and the resources it carries, loaded on demand. */
export class EntryPoint {
  readonly moduleName: string;
  readonly moduleVersion: string;
  readonly uid: string;
  /** Folder holding the resource files. */
  readonly resourcesLocation: string;
  readonly resources: readonly string[];
  /** The data files the package carries: under `<dir>/assets/`, by their project-relative paths. */
  readonly assets: RunAssets;

  constructor(
    /** The package's install folder, `<installRoot>/<uid>`. */
    readonly dir: string,
    readonly manifest: PackageManifest,
  ) {
    this.moduleName = manifest.name;
    this.moduleVersion = manifest.version;
    this.uid = manifest.uid;
    this.resourcesLocation = path.join(dir, 'resources');
    this.resources = manifest.resources;
    this.assets = { root: path.join(dir, ASSETS_FOLDER), files: manifest.assets ?? [] };
  }

  /**
   * Rebuilds a resource. Its classes come from this package's own bundle (so they are distinct from
   * any other version's), or from `rebindTo`; only classes named in the resource and exported by a
   * module the package lists are ever touched, and no constructor runs.
   */
  async loadResource(name: string, options: LoadResourceOptions = {}): Promise<unknown> {
    if (!this.resources.includes(name)) {
      throw new ResourceNotFoundError(
        `package ${this.uid} has no resource '${name}'; it has: ${this.resources.join(', ')}`,
      );
    }
    const files = resourceFiles(name);
    const where = `package ${this.uid}`;
    const [documentText, blobs] = await Promise.all([
      readFile(pathInside(this.dir, files.document, where), 'utf8'),
      readFile(pathInside(this.dir, files.blobs, where)),
    ]);
    const document = parseDocumentText(documentText, files.document);
    const rebindTo = options.rebindTo === undefined ? undefined : path.resolve(options.rebindTo);
    const resolveClass = await resolveClassesFrom(document.classes, (reference) => {
      const bundled = ownValue(this.manifest.modules, reference.module);
      const exported = ownValue(this.manifest.exports, reference.module);
      // Only a name the package says the module exports: a module that exports nothing (a script)
      // or a name it does not export is refused before any module is imported.
      if (bundled === undefined || exported?.includes(reference.exportName) !== true) {
        return undefined;
      }
      return rebindTo === undefined
        ? pathInside(this.dir, bundled, `${where}: module ${reference.module}`)
        : pathInside(rebindTo, reference.module, `${where}: module ${reference.module} rebound`);
    });
    // The side-car was just read for this load alone: its largest value may keep its memory.
    return deserialize({ document, blobs }, { resolveClass, ownsBlobs: true });
  }
}
