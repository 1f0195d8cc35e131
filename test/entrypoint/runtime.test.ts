import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleRuntime, RUNTIME_MODULE_PATH } from '../../src/containering/runtimeBundle.js';
import {
  DEFAULT_ENTRY_FILE_TEMPLATE,
  loadDefaultTemplate,
  renderTemplate,
} from '../../src/containering/templates.js';
import { installPackage, makePackage, PackagingTask } from '../../src/packaging/index.js';
import { FailingJob } from '../fixtures/containering/jobs/failingJob.js';
import { ProbeJob } from '../fixtures/containering/jobs/probeJob.js';
import { ChattyJob } from './fixtures/chattyJob.js';
import { expectedNumbers, printedLines } from './printedLines.js';

// The container runtime, run with the host's node: the bundled runtime.mjs and a rendered entry file
// in a folder laid out like the image's /app, without Docker.
const repo = fileURLToPath(new URL('../../', import.meta.url));
const sourceRoot = path.join(repo, 'test/fixtures/containering/jobs');
let app: string;

beforeAll(async () => {
  app = await mkdtemp(path.join(os.tmpdir(), 'ferry-runtime-test-'));
  const runtime = await bundleRuntime();
  await mkdir(path.join(app, path.dirname(RUNTIME_MODULE_PATH)), { recursive: true });
  await writeFile(path.join(app, RUNTIME_MODULE_PATH), runtime.code);
  await writeFile(path.join(app, 'package.json'), '{"type":"module"}\n');
});
afterAll(async () => {
  await rm(app, { recursive: true, force: true });
});

async function install(name: string, job: unknown, root = sourceRoot): Promise<string> {
  const task = new PackagingTask({ name, version: '1.0.0', payload: { job }, sourceRoot: root });
  const info = await makePackage(task, { outputDir: path.join(app, 'archives') });
  const installed = await installPackage(info.path, {
    installRoot: path.join(app, 'packages'),
    nodeModules: path.join(repo, 'node_modules'),
  });
  const entry = renderTemplate(await loadDefaultTemplate(DEFAULT_ENTRY_FILE_TEMPLATE), {
    name,
    version: '1.0.0',
    uid: installed.manifest.uid,
    ferryVersion: 'test',
    appDir: app,
    packageDir: installed.dir,
    runtimeModule: path.join(app, RUNTIME_MODULE_PATH),
  });
  const entryFile = path.join(app, `${name}.mjs`);
  await writeFile(entryFile, entry);
  return entryFile;
}

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runNode(
  entryFile: string,
  onStdout?: (text: string, child: ReturnType<typeof spawn>) => void,
): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entryFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      onStdout?.(stdout, child);
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('container runtime (bundled entry point)', () => {
  it('is one small self-contained module', async () => {
    const { code } = await bundleRuntime();
    const text = Buffer.from(code).toString('utf8');
    expect(code.byteLength).toBeLessThan(200_000);
    expect(text).toContain('runEntryPoint');
    // No import statement of a package: everything but Node's built-ins is inlined.
    expect(text).not.toMatch(
      /^\s*(?:import|export)\b[^\n]*\bfrom\s*['"](?!node:)[^'"./][^'"]*['"]/m,
    );
    expect(text).not.toMatch(/\bimport\(\s*['"](?!node:)[^'"./][^'"]*['"]\s*\)/);
  });

  it('runs the job and logs around it', async () => {
    const entry = await install('probe', new ProbeJob({ message: 'hello from the runtime' }));
    const outcome = await runNode(entry);
    expect(outcome.stderr).toBe('probe: done\n');
    expect(outcome.code).toBe(0);
    const lines = outcome.stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      /^Welcome to Ferry \S+: package probe 1\.0\.0 \(probe-1\.0\.0-[0-9a-f]+\)/,
    );
    expect(lines.slice(1)).toEqual([
      'Executing job probe version 1.0.0',
      'probe: hello from the runtime',
      'probe: semver 1.2.3 from npm',
      'Job completed',
    ]);
  });

  it('prints the stack of a failing job, mapped to its TypeScript source, and exits 1', async () => {
    const entry = await install('failing', new FailingJob('no data'));
    const outcome = await runNode(entry);
    expect(outcome.code).toBe(1);
    expect(outcome.stdout).not.toContain('Job completed');
    expect(outcome.stderr).toContain('Job failed: Error: FailingJob refused to run: no data');
    expect(outcome.stderr).toMatch(/at FailingJob\.validate .*failingJob\.ts:\d+:\d+/);
  });

  it('stops the job on SIGTERM through its stop() and exits 143', async () => {
    const entry = await install('sleepy', new ProbeJob({ message: 'sleepy', runForMs: 60_000 }));
    let signalled = false;
    const outcome = await runNode(entry, (stdout, child) => {
      if (!signalled && stdout.includes('tick 1')) {
        signalled = true;
        child.kill('SIGTERM');
      }
    });
    expect(outcome.code).toBe(143);
    expect(outcome.stderr).toContain('Received SIGTERM');
    expect(outcome.stderr).toContain('probe: stopped early');
    expect(outcome.stdout).toContain('Job stopped');
  });

  // Pipes here behave as the engine's do: once one is full, Node queues the rest in memory.
  describe('delivers everything the job printed before it exits', () => {
    const chattyRoot = path.join(repo, 'test/entrypoint/fixtures');
    const LINES = 100_000;

    it('all 100,000 lines on both streams, in order, `Job completed` last', async () => {
      const outcome = await runNode(await install('chatty', new ChattyJob(LINES), chattyRoot));
      expect(outcome.code).toBe(0);
      const stdout = printedLines(outcome.stdout);
      const stderr = printedLines(outcome.stderr);
      expect({ stdout: stdout.numbers.length, stderr: stderr.numbers.length }).toEqual({
        stdout: LINES / 2,
        stderr: LINES / 2,
      });
      expect(stdout.numbers).toEqual(expectedNumbers(LINES).stdout);
      expect(stderr.numbers).toEqual(expectedNumbers(LINES).stderr);
      expect(stdout.others.at(-1)).toBe('Job completed');
      expect(outcome.stdout.endsWith('\nJob completed\n')).toBe(true);
    });

    it('all of it, then the error, when the job throws (exit 1)', async () => {
      const entry = await install('chatty-throws', new ChattyJob(LINES, 80, 'throw'), chattyRoot);
      const outcome = await runNode(entry);
      expect(outcome.code).toBe(1);
      expect(printedLines(outcome.stdout).numbers.length).toBe(LINES / 2);
      const stderr = printedLines(outcome.stderr);
      expect(stderr.numbers.length).toBe(LINES / 2);
      expect(stderr.others[0]).toBe(`Job failed: Error: ChattyJob failed after ${LINES} lines`);
      expect(outcome.stdout).not.toContain('Job completed');
    });

    it('all of it, then the error, when a callback the job left behind throws (exit 1)', async () => {
      const entry = await install(
        'chatty-uncaught',
        new ChattyJob(LINES, 80, 'uncaught'),
        chattyRoot,
      );
      const outcome = await runNode(entry);
      expect(outcome.code).toBe(1);
      expect(printedLines(outcome.stdout).numbers.length).toBe(LINES / 2);
      const stderr = printedLines(outcome.stderr);
      expect(stderr.numbers.length).toBe(LINES / 2);
      expect(stderr.others.slice(0, 2)).toEqual([
        "Job failed: an uncaught error in the job's code:",
        `Error: ChattyJob's timer failed after ${LINES} lines`,
      ]);
    });
  });
});
