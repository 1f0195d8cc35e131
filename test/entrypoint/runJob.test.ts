import { describe, expect, it } from 'vitest';
import {
  EXIT_JOB_FAILED,
  EXIT_NOT_A_JOB,
  EXIT_OK,
  runJob,
  type LoadedJobPackage,
} from '../../src/entrypoint/runJob.js';

function fakePackage(job: unknown, resources = ['job']): LoadedJobPackage {
  return {
    moduleName: 'demo',
    moduleVersion: '1.2.3',
    uid: 'demo-1.2.3-abc',
    resources,
    loadResource: async (name) => {
      if (name !== 'job') throw new Error(`no ${name}`);
      return job;
    },
  };
}

function capture() {
  const info: string[] = [];
  const error: string[] = [];
  return {
    info,
    error,
    output: { info: (l: string) => info.push(l), error: (t: string) => error.push(t) },
  };
}

describe('runJob', () => {
  it('runs a synchronous job and logs around it', async () => {
    const calls: string[] = [];
    const job = { run: () => calls.push('ran') };
    const out = capture();
    expect(await runJob(fakePackage(job), { output: out.output, ferryVersion: '9.9.9' })).toBe(
      EXIT_OK,
    );
    expect(calls).toEqual(['ran']);
    expect(out.info[0]).toMatch(
      /^Welcome to Ferry 9\.9\.9: package demo 1\.2\.3 \(demo-1\.2\.3-abc\)/,
    );
    expect(out.info.slice(1)).toEqual(['Executing job demo version 1.2.3', 'Job completed']);
    expect(out.error).toEqual([]);
  });

  it('awaits an asynchronous job, with `this` bound to it', async () => {
    class Job {
      done = false;
      async run() {
        await new Promise((r) => setTimeout(r, 10));
        this.done = true;
      }
    }
    const job = new Job();
    const out = capture();
    expect(await runJob(fakePackage(job), { output: out.output })).toBe(EXIT_OK);
    expect(job.done).toBe(true);
    expect(out.info.at(-1)).toBe('Job completed');
  });

  it('reports a thrown error with its stack and exits 1', async () => {
    const job = {
      run: async () => {
        throw new Error('boom in the job', { cause: new Error('root cause') });
      },
    };
    const out = capture();
    expect(await runJob(fakePackage(job), { output: out.output })).toBe(EXIT_JOB_FAILED);
    expect(out.info).not.toContain('Job completed');
    expect(out.error[0]).toMatch(/^Job failed: Error: boom in the job\n\s+at /);
    expect(out.error[0]).toContain('Caused by: Error: root cause');
  });

  it('reports a thrown non-Error value', async () => {
    const out = capture();
    const code = await runJob(fakePackage({ run: () => Promise.reject('just a string') }), {
      output: out.output,
    });
    expect(code).toBe(EXIT_JOB_FAILED);
    expect(out.error[0]).toContain('a non-Error value was thrown: "just a string"');
  });

  it('exits 2 when the package holds no runnable job', async () => {
    const out = capture();
    expect(await runJob(fakePackage({ notRun: 1 }), { output: out.output })).toBe(EXIT_NOT_A_JOB);
    expect(out.error[0]).toContain('has no run() method');
    expect(await runJob(fakePackage({}, ['other']), { output: out.output })).toBe(EXIT_NOT_A_JOB);
    expect(out.error[1]).toContain('holds no resource "job"');
  });
});

describe('runJob when asked to stop', () => {
  it('calls the job’s stop() and exits 143 once the run ends', async () => {
    class Job {
      private release: (() => void) | undefined;
      stopped = false;
      run() {
        return new Promise<void>((resolve) => (this.release = resolve));
      }
      stop() {
        this.stopped = true;
        this.release?.();
      }
    }
    const job = new Job();
    const controller = new AbortController();
    const out = capture();
    const result = runJob(fakePackage(job), { output: out.output, stopSignal: controller.signal });
    await new Promise((r) => setTimeout(r, 10));
    controller.abort();
    expect(await result).toBe(143);
    expect(job.stopped).toBe(true);
    expect(out.info).toContain('Job stopped');
    expect(out.info).not.toContain('Job completed');
  });

  it('abandons a job without stop() and exits 143', async () => {
    const job = { run: () => new Promise(() => undefined) };
    const controller = new AbortController();
    const out = capture();
    const result = runJob(fakePackage(job), { output: out.output, stopSignal: controller.signal });
    controller.abort();
    expect(await result).toBe(143);
    expect(out.info.join('\n')).toContain('no stop() method');
  });
});
