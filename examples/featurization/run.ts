/**
 * Runs the featurization example: attached (in this process), then through a package (bundled,
 * serialized, installed and loaded back under its own namespace), and checks both give one result.
 *
 *   npm run example
 */
import path from 'node:path';
import { SSHDockerJobRoutine } from '../../src/index.js';
import { createFeaturizationJob, exampleDir, sourceRoot } from './createJob.js';

const routine = new SSHDockerJobRoutine({
  job: createFeaturizationJob(),
  name: 'titanic-featurization',
  version: '1.0.0',
  sourceRoot,
  workDir: path.join(exampleDir, '.ferry'),
});

console.log('== attached: the job object itself');
const attached = await routine.attached.execute();
const attachedResult = await attached.wait();

console.log('\n== attached through a package: bundled, serialized, installed, loaded back');
const packaged = await routine.attached.execute({ viaPackage: true });
const packagedResult = await packaged.wait();

const checksum = (logs: string): string | undefined => /checksum: (\w+)/.exec(logs)?.[1];
const [a, b] = [
  checksum((await attached.getLogs()).stdout),
  checksum((await packaged.getLogs()).stdout),
];
console.log(
  `\nexit codes: attached ${attachedResult.exitCode}, packaged ${packagedResult.exitCode}; checksums ${a === b ? 'match' : `differ (${a} vs ${b})`}`,
);
process.exitCode = attachedResult.exitCode || packagedResult.exitCode || (a === b ? 0 : 1);
