import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = path.dirname(fileURLToPath(import.meta.url));

/**
 * The test files that talk to the test bed (Docker engines, sshd, the registry). A suite says it
 * needs the test bed by calling `requireTestbed()` (test/support/testbed.ts), and that call is what
 * puts its file in the `docker` project: no list to keep, and no Docker suite can land among the
 * unit tests that run in parallel.
 */
function testbedFiles(): string[] {
  return readdirSync(path.join(root, 'test'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.test.ts'))
    .map((file) => `test/${file.split(path.sep).join('/')}`)
    .filter((file) => readFileSync(path.join(root, file), 'utf8').includes('requireTestbed('))
    .sort();
}

const dockerFiles = testbedFiles();

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 300_000,
    projects: [
      {
        extends: true,
        test: {
          // Pure logic and local files: runs anywhere, files in parallel (`npm run test:unit`).
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: dockerFiles,
          // Vitest's default is one worker less than the cores, which is one on a 2-core machine;
          // these files wait on child processes and the disk as much as on the CPU (85 s → 53 s).
          maxWorkers: Math.max(2, availableParallelism() - 1),
        },
      },
      {
        extends: true,
        test: {
          // The suites share the test bed's engines; one file at a time so they do not starve each
          // other on a small machine, and after the unit project (sequence.groupOrder).
          name: 'docker',
          include: dockerFiles,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
