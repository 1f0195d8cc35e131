import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const helper = fileURLToPath(new URL('../../src/entrypoint/exitWhenDrained.ts', import.meta.url));

interface Outcome {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs `body` (ES module code with `exitWhenDrained` in scope) in a child node on pipes. */
function runChild(body: string, read: 'all' | 'nothing' = 'all'): Promise<Outcome> {
  const source = `import { exitWhenDrained } from ${JSON.stringify(helper)};\n${body}`;
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx/esm', '--input-type=module', '-e', source],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    if (read === 'all') {
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    }
    child.on('error', reject);
    child.on('exit', (code) => {
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

describe('exitWhenDrained', () => {
  it('exits with the code once both streams have delivered everything written', async () => {
    const outcome = await runChild(`
      for (let n = 0; n < 100000; n++) {
        process.stdout.write('out ' + n + '\\n');
        process.stderr.write('err ' + n + '\\n');
      }
      process.stdout.write('last\\n');
      setInterval(() => undefined, 1000); // a handle the job left open
      await exitWhenDrained(7);
    `);
    expect(outcome.code).toBe(7);
    const out = outcome.stdout.split('\n');
    expect(out.length).toBe(100_002);
    expect(out.at(-2)).toBe('last');
    expect(outcome.stderr.split('\n').length).toBe(100_001);
  });

  it('gives up waiting after withinMs when nobody reads', async () => {
    const outcome = await runChild(
      `
      process.stdout.write('x'.repeat(8 * 1024 * 1024));
      await exitWhenDrained(5, { withinMs: 300 });
    `,
      'nothing',
    );
    expect(outcome.code).toBe(5);
    expect(outcome.ms).toBeLessThan(10_000);
  });
});
