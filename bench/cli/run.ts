/**
 * Start-up time of the `ferry` command as a project that installed Ferry runs it (a copy of the
 * files the package ships, in `node_modules/ferry` of a scratch project, so bin/ferry.mjs runs dist/
 * without looking at a clone's src/), beside a bare
 * `node -e ''` measured in the same run, interleaved round by round so that the machine's load
 * weighs on all of them alike. Commands: `ferry --version`, `ferry ls` and `ferry status <run>` in a
 * project made by `ferry init` with one attached run recorded (so neither needs a Docker engine).
 * Builds dist/ first when it is missing or older than src/ (the command would run the source).
 * Prints the median and the fastest of each, the medians' ratio to node's (the targets are
 * --version ≤ 2× and ls ≤ 3×), and the same for CPU time (user + system, of the child), which a
 * loaded machine disturbs far less than wall time.
 *
 *   npx tsx bench/cli/run.ts [rounds=10]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { formatMs } from '../support.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** What `npm pack` ships (package.json `files`), beside package.json itself. */
const SHIPPED = ['bin', 'dist', 'templates', 'schema', 'package.json', 'README.md', 'LICENSE'];
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

/**
 * Runs a command to its end under /usr/bin/time; returns its wall time and CPU time in ms, failing
 * loudly on a non-zero exit.
 */
function measure(args: readonly string[], cwd: string): { wall: number; cpu: number } {
  const start = performance.now();
  const result = spawnSync('/usr/bin/time', ['-f', '%U %S', process.execPath, ...args], {
    cwd,
    encoding: 'utf8',
  });
  const wall = performance.now() - start;
  if (result.status !== 0) {
    throw new Error(`node ${args.join(' ')} exited ${result.status}:\n${result.stderr}`);
  }
  const [user, system] = result.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
  return { wall, cpu: ((user ?? NaN) + (system ?? NaN)) * 1000 };
}

/** A scratch project with Ferry installed the way npm installs a packed Ferry, its dependencies linked. */
async function installedFerry(dir: string): Promise<string> {
  const ferry = path.join(dir, 'node_modules', 'ferry');
  await mkdir(ferry, { recursive: true });
  for (const entry of SHIPPED) {
    await cp(path.join(ROOT, entry), path.join(ferry, entry), { recursive: true });
  }
  await rm(path.join(ferry, 'dist', '.build-stamp'), { force: true });
  await symlink(path.join(ROOT, 'node_modules'), path.join(ferry, 'node_modules'), 'dir');
  return path.join(ferry, 'bin', 'ferry.mjs');
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
    const BIN = await installedFerry(dir);
    measure([BIN, 'init', '--name', 'bench-cli'], dir);
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
    const times = new Map<string, { wall: number; cpu: number }[]>(
      Object.keys(commands).map((name) => [name, []]),
    );
    // One warm-up round fills the file system cache.
    for (const args of Object.values(commands)) measure(args, dir);
    for (let round = 0; round < rounds; round++) {
      for (const [name, args] of Object.entries(commands))
        times.get(name)!.push(measure(args, dir));
    }
    const node = times.get("node -e ''")!;
    const base = { wall: median(node.map((t) => t.wall)), cpu: median(node.map((t) => t.cpu)) };
    console.log(
      `start-up of an installed Ferry, ${rounds} rounds (Node ${process.versions.node}):`,
    );
    for (const [name, values] of times) {
      const wall = median(values.map((t) => t.wall));
      const cpu = median(values.map((t) => t.cpu));
      const target = TARGETS[name];
      const verdict = (ratio: number) =>
        target === undefined ? '' : ` (≤ ${target}x: ${ratio <= target ? 'met' : 'missed'})`;
      console.log(
        `  ${name.padEnd(16)} wall: median ${formatMs(wall).padStart(7)}  fastest ${formatMs(Math.min(...values.map((t) => t.wall))).padStart(7)}  ${(wall / base.wall).toFixed(1)}x node${verdict(wall / base.wall)}   CPU: median ${formatMs(cpu).padStart(7)}  ${(cpu / base.cpu).toFixed(1)}x node${verdict(cpu / base.cpu)}`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
