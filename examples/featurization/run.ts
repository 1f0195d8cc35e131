/**
 * Runs the featurization example: attached (in this process), then through a package (bundled,
 * serialized, installed and loaded back under its own namespace), and with `--local` in a container
 * on the local Docker engine; brings every run's feature table home with `run.result()` and checks
 * every place gives the same checksum.
 *
 *   npm run example               attached, and through a package
 *   npm run example -- --local    also in local Docker (needs a Docker engine)
 *   npm run example -- --remote   also on the test bed's remote host over SSH
 *                                 (`scripts/testbed.sh up` writes its details to .testbed/testbed.json)
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  SSHDockerJobRoutine,
  type JobExecutor,
  type JobRun,
  type RemoteHostFields,
} from '../../src/index.js';
import { createFeaturizationJob, exampleDir, sourceRoot } from './createJob.js';
import { FeatureTable } from './src/featureTable.js';

const { values: flags } = parseArgs({
  options: {
    local: { type: 'boolean', default: false },
    remote: { type: 'boolean', default: false },
  },
});

/** The test bed's remote host, as `scripts/testbed.sh up` describes it. */
function testbedRemote(): RemoteHostFields {
  const file =
    process.env.FERRY_TESTBED ?? path.join(exampleDir, '..', '..', '.testbed', 'testbed.json');
  const { remote } = JSON.parse(readFileSync(file, 'utf8')) as {
    remote: {
      host: string;
      port: number;
      username: string;
      privateKeyPath: string;
      knownHostsPath: string;
      dockerSocketPath: string;
    };
  };
  const { dockerSocketPath, ...ssh } = remote;
  return { ssh, dockerSocketPath };
}

const routine = new SSHDockerJobRoutine({
  job: createFeaturizationJob(),
  name: 'titanic-featurization',
  version: '1.0.0',
  sourceRoot,
  workDir: path.join(exampleDir, '.ferry'),
  ...(flags.remote ? { remote: testbedRemote() } : {}),
  onProgress: ({ stage, message }) => {
    // Docker's own build chatter is noise here; its steps are enough to follow along.
    if (stage !== 'build' || message.startsWith('Step ')) console.log(`  [${stage}] ${message}`);
  },
});

const places: Array<[string, () => Promise<JobRun>, JobExecutor]> = [
  ['attached: the job object itself', () => routine.attached.execute(), routine.attached],
  [
    'attached through a package: bundled, serialized, installed, loaded back',
    () => routine.attached.execute({ viaPackage: true }),
    routine.attached,
  ],
];
if (flags.local) {
  places.push([
    'local: packaged, built into an image, run in a container',
    () => routine.local.execute(),
    routine.local,
  ]);
}

if (flags.remote) {
  places.push([
    'remote: built here, shipped over SSH (missing layers only), run on the remote engine',
    () => routine.remote.execute(),
    routine.remote,
  ]);
}

const checksums: string[] = [];
let exitCode = 0;
for (const [title, execute] of places) {
  console.log(`\n== ${title}`);
  const run = await execute();
  const result = await run.wait();
  const { stdout, stderr } = await run.getLogs();
  if (!title.startsWith('attached')) process.stdout.write(stdout);
  if (result.exitCode !== 0) {
    process.stderr.write(stderr);
    checksums.push('none');
    exitCode ||= result.exitCode;
    continue;
  }
  // What run() returned, rebuilt here as a FeatureTable of this source (its Float64Array came
  // home as side-car bytes).
  const table = await run.result();
  if (!(table instanceof FeatureTable)) throw new Error(`${title}: result() is not a FeatureTable`);
  const { last } = await run.metrics();
  console.log(
    `result(): FeatureTable ${table.rows} rows x ${table.columns.length} columns, checksum ${table.checksum} (metrics: rows=${last.rows}, columns=${last.columns})`,
  );
  checksums.push(table.checksum);
}
const same = checksums.every((c) => c === checksums[0]);
console.log(`\nchecksums: ${checksums.join(', ')} (${same ? 'all match' : 'they differ'})`);
process.exitCode = exitCode || (same ? 0 : 1);
if (flags.remote) await routine.remote.close();
