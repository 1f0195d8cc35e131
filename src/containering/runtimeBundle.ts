import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { EnvironmentError } from '../errors.js';

/** Ferry's project folder (where `src/` and `package.json` are). */
const FERRY_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUNTIME_ENTRY = fileURLToPath(new URL('../entrypoint/runtime.ts', import.meta.url));

/** Where the runtime goes, relative to `/app` in the image. */
export const RUNTIME_MODULE_PATH = 'ferry/runtime.mjs';

export class RuntimeBundleError extends EnvironmentError {}

export interface RuntimeBundle {
  /** One ESM file: the entry point and everything it imports (packaging's loader, its npm packages). */
  readonly code: Uint8Array;
  readonly ferryVersion: string;
}

let cached: Promise<RuntimeBundle> | undefined;

/**
 * Bundles `src/entrypoint/runtime.ts` with its dependencies inlined, once per process. The output is
 * deterministic (relative paths, no timestamps), so its layer is shared by every image built by the
 * same Ferry version.
 */
export function bundleRuntime(): Promise<RuntimeBundle> {
  cached ??= build().catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}

async function build(): Promise<RuntimeBundle> {
  const pkg = JSON.parse(await readFile(`${FERRY_ROOT}package.json`, 'utf8')) as {
    version: string;
  };
  let result: esbuild.BuildResult<{ write: false }>;
  try {
    result = await esbuild.build({
      absWorkingDir: FERRY_ROOT,
      entryPoints: [RUNTIME_ENTRY],
      bundle: true,
      write: false,
      outfile: 'runtime.mjs',
      format: 'esm',
      platform: 'node',
      target: 'node20',
      keepNames: true,
      legalComments: 'none',
      logLevel: 'silent',
      define: { FERRY_RUNTIME_VERSION: JSON.stringify(pkg.version) },
      // Inlined CommonJS packages call require(); give the ESM bundle one.
      banner: {
        js: "import { createRequire as __ferryCreateRequire } from 'node:module';\nconst require = __ferryCreateRequire(import.meta.url);",
      },
    });
  } catch (error) {
    throw new RuntimeBundleError(
      `could not bundle Ferry's container runtime (${RUNTIME_ENTRY}): ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  const [output] = result.outputFiles;
  if (output === undefined || result.outputFiles.length !== 1) {
    throw new RuntimeBundleError(
      `bundling Ferry's container runtime gave ${result.outputFiles.length} files; expected one`,
    );
  }
  return { code: output.contents, ferryVersion: pkg.version };
}
