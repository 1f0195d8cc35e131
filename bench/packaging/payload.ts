/**
 * A large binary payload end to end on the local steps: a `Float64Array` of the given size
 * packaged (makePackage), installed and verified (installPackage), and loaded back
 * (loadResource), each in MB/s; beside the same steps for a 1 KB array just before (bundling,
 * manifests and module loading cost the same for any payload), so the payload's own rate shows:
 * megabytes / (time − time of the tiny one). Also the CPU time of the steps (on a loaded machine the
 * wall time mostly measures the other work) and the process's peak RSS against the payload's size,
 * so that a step holding several copies shows. Run it in a process of its own for an honest peak
 * RSS (bench/packaging/run.ts starts it for 100 MB and 1 GB).
 *
 *   npx tsx bench/packaging/payload.ts [megabytes=100]
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  installPackageAndGetLoader,
  makePackage,
  PackagingTask,
} from '../../src/packaging/index.js';
import { formatBytes, formatMs } from '../support.js';

const megabytes = Number(process.argv[2] ?? 100);
if (!Number.isFinite(megabytes) || megabytes <= 0) throw new Error(`megabytes: ${process.argv[2]}`);
const MB = 1024 * 1024;

const peakRss = (): number => process.resourceUsage().maxRSS * 1024;
const cpuMs = (since: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};

interface Steps {
  readonly make: number;
  readonly install: number;
  readonly load: number;
  readonly cpu: number;
  readonly size: number;
  readonly stages: string;
  readonly rssAfterPackaging: number;
}

/** Packages, installs and loads `values`; wall times of each step in ms. */
async function endToEnd(work: string, label: string, values: Float64Array): Promise<Steps> {
  const root = path.join(work, 'source');
  const task = new PackagingTask({
    name: 'bench-payload',
    version: '1.0.0',
    payload: { weights: { name: 'weights', values } },
    sourceRoot: root,
    projectRoot: work,
  });
  const cpu = process.cpuUsage();
  const stages: [string, number][] = [];
  const t0 = performance.now();
  const made = await makePackage(task, {
    outputDir: path.join(work, `out-${label}`),
    onProgress: (stage) => stages.push([stage, performance.now()]),
  });
  const t1 = performance.now();
  const rssAfterPackaging = peakRss();
  const loader = await installPackageAndGetLoader(made.path, {
    installRoot: path.join(work, `installed-${label}`),
  });
  const t2 = performance.now();
  const loaded = (await loader.loadResource('weights')) as { values: Float64Array };
  const t3 = performance.now();
  const last = values.length - 1;
  if (loaded.values.length !== values.length || loaded.values[last] !== values[last]) {
    throw new Error('the payload came back different');
  }
  return {
    make: t1 - t0,
    install: t2 - t1,
    load: t3 - t2,
    cpu: cpuMs(cpu),
    size: made.size,
    stages: stages
      .map(([stage, at], i) => `${stage} ${formatMs((stages[i + 1]?.[1] ?? t1) - at)}`)
      .join(', '),
    rssAfterPackaging,
  };
}

const work = await mkdtemp(path.join(tmpdir(), 'ferry-bench-payload-'));
try {
  await writeFile(path.join(work, 'package.json'), '{"name":"bench-payload","version":"1.0.0"}\n');
  await mkdir(path.join(work, 'source'));
  await writeFile(path.join(work, 'source', 'job.ts'), 'export const name = "weights";\n');
  const tiny = await endToEnd(work, 'tiny', new Float64Array(128).map(Math.sin));
  const before = peakRss();
  const values = new Float64Array((megabytes * MB) / 8);
  // Floats from a smooth signal: deflate would save about 4% of them.
  for (let i = 0; i < values.length; i++) values[i] = Math.sin(i) * 1e6;
  const big = await endToEnd(work, 'big', values);
  const peak = peakRss();

  const rate = (ms: number) => `${(megabytes / (ms / 1000)).toFixed(0)} MB/s`;
  const row = (name: string, ms: number, tinyMs: number, extra = '') =>
    console.log(
      `  ${name.padEnd(20)} ${formatMs(ms).padStart(8)} ${rate(ms).padStart(10)}   1 KB: ${formatMs(tinyMs).padStart(7)}   payload's own: ${rate(ms - tinyMs).padStart(10)}${extra}`,
    );
  const total = big.make + big.install + big.load;
  const tinyTotal = tiny.make + tiny.install + tiny.load;
  const copies = (bytes: number) => `${((bytes - before) / (megabytes * MB)).toFixed(2)}x`;
  console.log(`payload: a ${megabytes} MB Float64Array, package -> install -> load`);
  row('makePackage', big.make, tiny.make, `  -> ${formatBytes(big.size)}`);
  console.log(`    (${big.stages})`);
  row('install and verify', big.install, tiny.install);
  row('loadResource', big.load, tiny.load);
  const own = megabytes / ((total - tinyTotal) / 1000);
  row('end to end', total, tinyTotal, `  (target ≥ 300 MB/s: ${own >= 300 ? 'met' : 'missed'})`);
  row('CPU time, all steps', big.cpu, tiny.cpu);
  console.log(
    `  peak RSS: ${formatBytes(peak)}, ${copies(peak)} the payload above the start (the payload itself is 1.00x; after packaging ${copies(big.rssAfterPackaging)})`,
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
