/**
 * The UI's front end: one script and one style sheet bundled by esbuild from `src/ui/web/` (plain
 * TypeScript and the DOM, uPlot for the charts), served from memory, so the page works offline and
 * loads nothing from elsewhere. `npm run build` writes them to `dist/ui/web/`; running from source
 * (tests, tsx) there is no such folder beside this module, so they are bundled once per process.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type * as esbuild from 'esbuild';
import { UiAssetsError } from './errors.js';

/** Where the build puts the bundle: `dist/ui/web/` beside `dist/ui/assets.js`. */
const PREBUILT_DIR = fileURLToPath(new URL('./web/', import.meta.url));
const ENTRY = fileURLToPath(new URL('./web/main.ts', import.meta.url));
const STYLE = fileURLToPath(new URL('./web/style.css', import.meta.url));
const FERRY_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const ASSET_NAMES = ['app.js', 'app.css'] as const;
export type AssetName = (typeof ASSET_NAMES)[number];

export interface Asset {
  readonly body: Buffer;
  readonly gzip: Buffer;
  readonly type: string;
  readonly etag: string;
}

export type Assets = ReadonlyMap<AssetName, Asset>;

const TYPES: Record<AssetName, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

/** The esbuild options of the front end (the build writes their output to `dist/ui/web/`). */
export function webBuildOptions(): esbuild.BuildOptions & { write: false } {
  return {
    absWorkingDir: FERRY_ROOT,
    entryPoints: [
      { in: ENTRY, out: 'app' },
      { in: STYLE, out: 'app' },
    ],
    bundle: true,
    write: false,
    outdir: 'out',
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  };
}

/** Bundles the front end from the source: the build's step, and the fallback from source. */
export async function bundleWeb(): Promise<Map<AssetName, Buffer>> {
  const esbuild = await import('esbuild');
  let result: esbuild.BuildResult<{ write: false }>;
  try {
    result = await esbuild.build(webBuildOptions());
  } catch (error) {
    throw new UiAssetsError(`could not bundle the UI from ${ENTRY}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const files = new Map<AssetName, Buffer>();
  for (const file of result.outputFiles) {
    const name = ASSET_NAMES.find((n) => file.path.endsWith(`/${n}`));
    if (name !== undefined) files.set(name, Buffer.from(file.contents));
  }
  if (!files.has('app.js')) throw new UiAssetsError(`bundling ${ENTRY} gave no app.js`);
  if (!files.has('app.css')) files.set('app.css', Buffer.alloc(0));
  return files;
}

let loaded: Promise<Assets> | undefined;

/** The front end's files, prebuilt when this is a build, else bundled from the source (once). */
export function loadAssets(): Promise<Assets> {
  loaded ??= (async () => {
    let files: Map<AssetName, Buffer>;
    if (existsSync(`${PREBUILT_DIR}app.js`)) {
      files = new Map();
      for (const name of ASSET_NAMES) files.set(name, await readFile(`${PREBUILT_DIR}${name}`));
    } else {
      files = await bundleWeb();
    }
    return new Map(
      [...files].map(([name, body]) => [
        name,
        {
          body,
          gzip: gzipSync(body),
          type: TYPES[name],
          etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
        },
      ]),
    );
  })();
  return loaded;
}
