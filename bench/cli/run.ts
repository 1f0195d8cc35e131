/**
 * Start-up time of the `ferry` command (bin/ferry.mjs running the build in dist/), beside a bare
 * `node -e ''` measured in the same run, interleaved round by round so that the machine's load
 * weighs on all of them alike. Commands: `ferry --version`, `ferry ls` and `ferry status <run>` in a
 * project made by `ferry init` with one attached run recorded (so neither needs a Docker engine).
 * Builds dist/ first when it is missing or older than src/ (the command would run the source).
 * Prints the median and the fastest of each, and the medians' ratio to node's; the targets are
 * --version ≤ 2× and ls ≤ 3×.
 *
 *   npx tsx bench/cli/run.ts [rounds=10]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { formatMs } from '../support.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'ferry.mjs');
const TARGETS: Readonly<Record<string, number>> = { 'ferry --version': 2, 'ferry ls': 3 };

function buildIsStale(): boolean {
  const stamp = path.join(ROOT, 'dist', '.build-stamp');
  if (!existsSync(stamp)) return true;
  const built = statSync(stamp).mtimeMs;
  const src = path.join(ROOT, 'src');
  return readdirSync(src, { recursive: true }).some(
    (file) => statSync(path.join(src, String(file))).mtimeMs > built,
  );
}

/** Runs a command to its end; returns its wall time in ms, failing loudly on a non-zero exit. */
function wall(args: readonly string[], cwd: string): number {
  const start = performance.now();
  const result = spawnSync(process.execPath, args, { cwd, encoding: 'utf8' });
  const ms = performance.now() - start;
  if (result.status !== 0) {
    throw new Error(`node ${args.join(' ')} exited ${result.status}:\n${result.stderr}`);
  }
  return ms;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 10);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`rounds: ${process.argv[2]}`);
  if (buildIsStale()) {
    console.log('dist/ is missing or older than src/: npm run build');
    const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (build.status !== 0) throw new Error(`npm run build exited ${build.status}`);
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-bench-cli-'));
  try {
    wall([BIN, 'init', '--name', 'bench-cli'], dir);
    const run = spawnSync(process.execPath, [BIN, 'run', '--target', 'attached'], {
      cwd: dir,
      encoding: 'utf8',
    });
    const runId = /run (\S+) succeeded/.exec(run.stderr)?.[1];
    if (run.status !== 0 || runId === undefined) {
      throw new Error(`the attached run failed:\n${run.stderr}`);
    }
    const commands: Readonly<Record<string, readonly string[]>> = {
      "node -e ''": ['-e', ''],
      'ferry --version': [BIN, '--version'],
      'ferry ls': [BIN, 'ls'],
      'ferry status': [BIN, 'status', runId],
    };
    const times = new Map<string, number[]>(Object.keys(commands).map((name) => [name, []]));
    // One warm-up round fills the file system cache.
    for (const args of Object.values(commands)) wall(args, dir);
    for (let round = 0; round < rounds; round++) {
      for (const [name, args] of Object.entries(commands)) times.get(name)!.push(wall(args, dir));
    }
    const base = median(times.get("node -e ''")!);
    console.log(`start-up, ${rounds} rounds (Node ${process.versions.node}):`);
    for (const [name, values] of times) {
      const ratio = median(values) / base;
      const target = TARGETS[name];
      console.log(
        `  ${name.padEnd(16)} median ${formatMs(median(values)).padStart(7)}  fastest ${formatMs(Math.min(...values)).padStart(7)}  ${ratio.toFixed(1)}x node${target === undefined ? '' : ` (target ≤ ${target}x: ${ratio <= target ? 'met' : 'missed'})`}`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
