/**
 * The two files Ferry puts into containers: the runtime (`src/entrypoint/runtime.ts`, imported by a
 * job image's entry file) and the sweep queue runner (`src/entrypoint/queueRunner.ts`). Each is one
 * self-contained ESM file. `npm run build` (scripts/build.ts) bundles them into `dist/bundles/` with
 * the options below; the installed package reads those. Running from source (this repository's
 * tests, `tsx`), there is no `bundles/` folder beside `src/`, so they are bundled from the current
 * source once per process instead.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type * as esbuild from 'esbuild';
import { RuntimeBundleError } from './errors.js';
import { ferryVersion } from '../version.js';

/** Ferry's package folder (where `package.json` is), from `src/containering/` or `dist/containering/`. */
const FERRY_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The build's output beside this module's folder: `dist/bundles/` (none beside `src/`). */
const PREBUILT_DIR = fileURLToPath(new URL('../bundles/', import.meta.url));
const SOURCE_DIR = fileURLToPath(new URL('../', import.meta.url));

/** Where the runtime goes, relative to `/app` in the image. */
export const RUNTIME_MODULE_PATH = 'ferry/runtime.mjs';

export interface RuntimeBundle {
  /** One ESM file: the entry point and everything it imports (packaging's loader, its npm packages). */
  readonly code: Uint8Array;
  readonly ferryVersion: string;
}

/** A file Ferry builds for containers: its source entry and its name in `dist/bundles/`. */
export interface ContainerScript {
  readonly entry: string;
  readonly outputName: string;
  /** The esbuild options beyond the common ones. */
  options(): Promise<esbuild.BuildOptions>;
}

export const RUNTIME_SCRIPT: ContainerScript = {
  entry: `${SOURCE_DIR}entrypoint/runtime.ts`,
  outputName: 'runtime.mjs',
  options: () =>
    Promise.resolve({
      define: { FERRY_RUNTIME_VERSION: JSON.stringify(ferryVersion) },
      // Inlined CommonJS packages call require(); give the ESM bundle one.
      banner: {
        js: "import { createRequire as __ferryCreateRequire } from 'node:module';\nconst require = __ferryCreateRequire(import.meta.url);",
      },
    }),
};

export const QUEUE_RUNNER_SCRIPT: ContainerScript = {
  entry: `${SOURCE_DIR}entrypoint/queueRunner.ts`,
  outputName: 'queueRunner.mjs',
  options: () => Promise.resolve({}),
};

/** The esbuild options that bundle `script` into one deterministic ESM file (relative paths, no timestamps). */
export async function containerScriptBuildOptions(
  script: ContainerScript,
): Promise<esbuild.BuildOptions & { write: false }> {
  return {
    ...(await script.options()),
    absWorkingDir: FERRY_ROOT,
    entryPoints: [script.entry],
    bundle: true,
    write: false,
    outfile: script.outputName,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    keepNames: true,
    legalComments: 'none',
    logLevel: 'silent',
  };
}

/** Bundles `script` from the source: the build's step, and the fallback when running from source. */
export async function bundleContainerScript(script: ContainerScript): Promise<Uint8Array> {
  let result: esbuild.BuildResult<{ write: false }>;
  try {
    // Loaded here: only a build, or Ferry run from its source, needs esbuild for this.
    const { build } = await import('esbuild');
    result = await build(await containerScriptBuildOptions(script));
  } catch (error) {
    throw new RuntimeBundleError(
      `could not bundle ${script.entry}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  const [output] = result.outputFiles;
  if (output === undefined || result.outputFiles.length !== 1) {
    throw new RuntimeBundleError(
      `bundling ${script.entry} gave ${result.outputFiles.length} files; expected one`,
    );
  }
  return output.contents;
}

const cached = new Map<ContainerScript, Promise<Uint8Array>>();

/** The script's code: the prebuilt file when Ferry runs from its build, else bundled once per process. */
function containerScript(script: ContainerScript): Promise<Uint8Array> {
  let code = cached.get(script);
  if (code === undefined) {
    code = load(script).catch((error: unknown) => {
      cached.delete(script);
      throw error;
    });
    cached.set(script, code);
  }
  return code;
}

async function load(script: ContainerScript): Promise<Uint8Array> {
  const prebuilt = `${PREBUILT_DIR}${script.outputName}`;
  if (!existsSync(prebuilt)) return bundleContainerScript(script);
  try {
    return await readFile(prebuilt);
  } catch (error) {
    throw new RuntimeBundleError(
      `could not read Ferry's prebuilt ${prebuilt} (${(error as NodeJS.ErrnoException).code ?? String(error)}); reinstall Ferry, or run \`npm run build\` in its clone`,
      { cause: error },
    );
  }
}

/**
 * The container runtime: `src/entrypoint/runtime.ts` with its dependencies inlined. Deterministic,
 * so its layer is shared by every image built by the same Ferry version.
 */
export async function bundleRuntime(): Promise<RuntimeBundle> {
  return { code: await containerScript(RUNTIME_SCRIPT), ferryVersion };
}

/** The sweep queue runner: `src/entrypoint/queueRunner.ts`, Node built-ins only. */
export function queueRunnerCode(): Promise<Uint8Array> {
  return containerScript(QUEUE_RUNNER_SCRIPT);
}
