/**
 * `npm run build` (also run by `prepare`, so a clone's `npm ci`, a git install and `npm pack` build):
 * Ferry's `dist/`. tsc compiles `src/` to JavaScript with declarations and their maps
 * (tsconfig.build.json); esbuild bundles the two files Ferry puts into containers, the runtime and
 * the sweep queue runner, into `dist/bundles/` with the options the source fallback uses
 * (src/containering/runtimeBundle.ts), and `ferry ui`'s front end into `dist/ui/web/`. Last, `dist/.build-stamp` marks a finished build:
 * bin/ferry.mjs in a clone runs `dist/` only when it is newer than every file under `src/`.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  bundleContainerScript,
  QUEUE_RUNNER_SCRIPT,
  RUNTIME_SCRIPT,
} from '../src/containering/runtimeBundle.ts';
import { bundleWeb } from '../src/ui/assets.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const DIST = path.join(ROOT, 'dist');
const STAMP = '.build-stamp';

async function main(): Promise<void> {
  const started = performance.now();
  await rm(DIST, { recursive: true, force: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const compiled = spawnSync(
    process.execPath,
    [tsc, '-p', path.join(ROOT, 'tsconfig.build.json')],
    {
      stdio: 'inherit',
    },
  );
  if (compiled.status !== 0) {
    throw new Error(
      `tsc -p tsconfig.build.json failed (exit ${compiled.status ?? compiled.signal})`,
    );
  }
  await mkdir(path.join(DIST, 'bundles'), { recursive: true });
  for (const script of [RUNTIME_SCRIPT, QUEUE_RUNNER_SCRIPT]) {
    const code = await bundleContainerScript(script);
    await writeFile(path.join(DIST, 'bundles', script.outputName), code);
    console.log(`dist/bundles/${script.outputName}: ${(code.length / 1024).toFixed(1)} kB`);
  }
  // `ferry ui`'s front end, served from dist/ui/web/ (src/ui/assets.ts).
  await mkdir(path.join(DIST, 'ui', 'web'), { recursive: true });
  for (const [name, code] of await bundleWeb()) {
    await writeFile(path.join(DIST, 'ui', 'web', name), code);
    console.log(`dist/ui/web/${name}: ${(code.length / 1024).toFixed(1)} kB`);
  }
  await writeFile(path.join(DIST, STAMP), `${new Date().toISOString()}\n`);
  console.log(`built dist/ in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

await main();
