/**
 * `ferry ui` in a real browser (Debian's chromium driven by playwright-core) over a real project on
 * the test bed's local engine: the runs table of a sweep, its sweep page, a run's metric chart with
 * one point per logged step, a live log that grows while the run goes, and Stop on the page
 * stopping the run on the engine. Screenshots of each page go to .ci/artifacts/ui/ (kept by CI).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import Dockerode from 'dockerode';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunRecord } from '../../src/records/record.js';
import { RUN_LABELS } from '../../src/routines/docker/labels.js';
import { cleanEngine, editConfig, ferry, spawnFerry } from '../cli/support.js';
import { describeWithTestbed } from '../support/describeWithTestbed.js';
import { isCi, REPO_ROOT, requireTestbed } from '../support/testbed.js';

const CHROMIUM = process.env.FERRY_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOTS = path.join(REPO_ROOT, '.ci', 'artifacts', 'ui');
/** Propagated to every run, and in the UI's own environment, as a user's API key would be. */
const SECRET = { UI_TEST_API_KEY: `secret-${randomBytes(8).toString('hex')}` };

const testbed = requireTestbed('local', 'baseImage');
if (testbed !== undefined && !existsSync(CHROMIUM) && isCi()) {
  throw new Error(
    `no browser at ${CHROMIUM}: the UI's browser tests need Debian's chromium (bash scripts/testbed.sh up installs it)`,
  );
}

const JOB = `
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

export class TrainJob {
  async run(parameters: { lr?: number; seed?: number; steps?: number; delay?: number } = {}, context: any) {
    const lr = Number(parameters.lr ?? 0.1);
    const steps = Number(parameters.steps ?? 3);
    const delay = Number(parameters.delay ?? 0);
    process.stdout.write('progress 10%\\rprogress 50%\\rprogress 100%\\n');
    for (let step = 0; step < steps; step++) {
      context.logMetric('loss', lr * (steps - step) + Number(parameters.seed ?? 0) / 100, { step });
      console.log('step ' + step);
      if (step % 5 === 0) console.error('note on stderr ' + step);
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    }
    context.logMetric('acc', 1 - lr);
    await writeFile(path.join(context.outputDir, 'model.txt'), 'lr=' + lr + '\\n');
    return { lr };
  }
}

export function createJob(): TrainJob {
  return new TrainJob();
}
`;

describeWithTestbed(
  testbed,
  'ferry ui in a browser',
  (tb) => {
    const project = `ui-browser-${randomBytes(3).toString('hex')}`;
    let root: string;
    let dir: string;
    let docker: Dockerode;
    let ui: ChildProcess | undefined;
    let url: string;
    let browser: Browser;
    let page: Page;
    let sweepRuns: RunRecord[];

    beforeAll(async () => {
      docker = new Dockerode({ socketPath: tb.localDocker.socketPath });
      await mkdir(SCREENSHOTS, { recursive: true });
      root = await mkdtemp(path.join(os.tmpdir(), 'ferry-ui-browser-'));
      dir = path.join(root, 'project');
      const init = await ferry(['init', 'project', '--name', project], root);
      expect(init.code, init.stderr).toBe(0);
      await writeFile(path.join(dir, 'src', 'job.ts'), JOB);
      await editConfig(dir, (config) => {
        const local = (config.targets as Record<string, Record<string, unknown>>).local!;
        local.baseImage = tb.baseImage;
        local.environment = Object.keys(SECRET);
        (config.defaults as Record<string, unknown>).parameters = {};
      });
      const sweep = await ferry(
        [
          'sweep',
          '--grid',
          'lr=0.1,0.2,0.3',
          '--grid',
          'seed=1,2',
          '-p',
          'steps=4',
          '--parallel',
          '3',
        ],
        dir,
        SECRET,
      );
      expect(sweep.code, sweep.stderr).toBe(0);
      const ls = await ferry(['ls', '--json'], dir);
      sweepRuns = JSON.parse(ls.stdout) as RunRecord[];
      expect(sweepRuns).toHaveLength(6);

      ui = spawnFerry(['ui', '--port', '0'], dir, SECRET);
      url = await new Promise<string>((resolve, reject) => {
        let out = '';
        ui!.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const match = /ferry ui: (http:\/\/\S+)/.exec(out);
          if (match !== null) resolve(match[1]!);
        });
        ui!.on('exit', (code) =>
          reject(new Error(`ferry ui exited (${code}) before printing its URL`)),
        );
      });
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
      page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    }, 600_000);

    afterAll(async () => {
      await browser?.close();
      if (ui !== undefined && ui.exitCode === null) {
        // Ctrl-C, as a user stops it: the server removes the outputs it brought home.
        const exited = new Promise((resolve) => ui!.once('exit', resolve));
        ui.kill('SIGINT');
        await exited;
      }
      await cleanEngine(docker, project);
      await rm(root, { recursive: true, force: true });
    });

    it('shows the runs of a real sweep in the runs table, and its sweep page', async () => {
      await page.goto(url);
      for (const run of sweepRuns) {
        await expect
          .poll(() => page.locator(`tr[data-run="${run.id}"]`).textContent(), { timeout: 20_000 })
          .toContain('succeeded');
      }
      const header = page.getByRole('columnheader', { name: 'loss' });
      await header.getByRole('button').click();
      expect(await header.getAttribute('aria-sort')).toBe('ascending');
      await page.screenshot({ path: path.join(SCREENSHOTS, 'runs.png'), fullPage: true });

      await page.getByRole('link', { name: sweepRuns[0]!.sweepId! }).first().click();
      await page.waitForSelector('svg.parallel');
      expect(await page.locator('table.sweep-runs tbody tr').count()).toBe(6);
      // The best loss: lr 0.1, seed 1 (the last step's loss is lr + seed/100).
      const best = sweepRuns.find((r) => r.parameters.lr === 0.1 && r.parameters.seed === 1)!;
      expect(await page.locator('tr.best').getAttribute('data-run')).toBe(best.id);
      expect(await page.locator('figure.chart').getAttribute('data-points')).toBe('6');
      expect(await page.locator('svg.parallel polyline').count()).toBe(6);
      expect(await page.locator('svg.parallel polyline.best').count()).toBe(1);
      await page.screenshot({ path: path.join(SCREENSHOTS, 'sweep.png'), fullPage: true });
    });

    it("draws a run's metric with one point per logged step, and its \\r progress as a terminal", async () => {
      const run = sweepRuns[0]!;
      await page.goto(`${url}#/run/${run.id}`);
      const chart = page.locator('figure[data-metric="loss"]');
      await expect.poll(() => chart.getAttribute('data-points'), { timeout: 20_000 }).toBe('4');
      expect(await page.locator('figure[data-metric="acc"]').getAttribute('data-points')).toBe('1');
      const stdout = page.locator('pre[data-stream="stdout"]');
      await expect.poll(() => stdout.textContent(), { timeout: 20_000 }).toContain('Job completed');
      expect(await stdout.textContent()).toContain('progress 100%');
      expect(await stdout.textContent()).not.toContain('progress 10%');
      expect(await page.locator('pre[data-stream="stderr"]').textContent()).toContain(
        'note on stderr 0',
      );
      await expect
        .poll(() => page.locator('pre.result').textContent(), { timeout: 20_000 })
        .toContain('lr');
      const link = page.getByRole('link', { name: 'model.txt' });
      await expect.poll(() => link.count(), { timeout: 30_000 }).toBe(1);
      const file = await page.request.get(
        new URL((await link.getAttribute('href'))!, url).toString(),
      );
      expect(await file.text()).toBe(`lr=${run.parameters.lr}\n`);
      expect(file.headers()['content-disposition']).toContain('attachment');
      await page.screenshot({ path: path.join(SCREENSHOTS, 'run.png'), fullPage: true });
    });

    it('follows a live log as it grows, and Stop on the page stops the run on the engine', async () => {
      const started = await ferry(['run', '-d', '-p', 'steps=600', '-p', 'delay=200'], dir, SECRET);
      expect(started.code, started.stderr).toBe(0);
      const id = started.stdout.trim();
      await page.goto(`${url}#/run/${id}`);
      const lines = page.locator('pre[data-stream="stdout"] .line');
      await expect.poll(() => lines.count(), { timeout: 60_000 }).toBeGreaterThan(3);
      const before = await lines.count();
      await expect.poll(() => lines.count(), { timeout: 20_000 }).toBeGreaterThan(before + 3);
      await expect
        .poll(() => page.locator('.badge-holder').textContent(), { timeout: 20_000 })
        .toBe('running');
      await page.screenshot({ path: path.join(SCREENSHOTS, 'live-run.png'), fullPage: true });

      await page.locator('#stop').click();
      const dialog = page.getByRole('dialog');
      await page.screenshot({ path: path.join(SCREENSHOTS, 'stop-confirm.png') });
      await dialog.getByRole('button', { name: 'Stop the run' }).click();
      await expect
        .poll(() => page.locator('.badge-holder').textContent(), { timeout: 30_000 })
        .toBe('stopped');
      const [container] = await docker.listContainers({
        all: true,
        filters: JSON.stringify({ label: [`${RUN_LABELS.runId}=${id}`] }),
      });
      const state = (await docker.getContainer(container!.Id).inspect()).State;
      expect(state.Running).toBe(false);
      expect(state.ExitCode).toBe(143);
      await page.screenshot({ path: path.join(SCREENSHOTS, 'stopped-run.png'), fullPage: true });

      // Remove, once it has ended: confirmed, then its container and record are gone.
      await page.locator('#remove').click();
      await page.getByRole('dialog').getByRole('button', { name: 'Remove the run' }).click();
      await expect.poll(() => page.evaluate(() => location.hash), { timeout: 30_000 }).toBe('#/');
      const left = await docker.listContainers({
        all: true,
        filters: JSON.stringify({ label: [`${RUN_LABELS.runId}=${id}`] }),
      });
      expect(left).toEqual([]);
      expect(existsSync(path.join(dir, '.ferry', 'runs', `${id}.json`))).toBe(false);
    });

    it('never shows the value of a propagated environment variable', async () => {
      const seen: string[] = [await page.content()];
      for (const route of [
        '/api/project',
        '/api/runs',
        ...sweepRuns.map((r) => `/api/runs/${r.id}`),
      ]) {
        const response = await page.request.get(new URL(route, url).toString());
        expect(response.status()).toBe(200);
        seen.push(await response.text());
      }
      await page.goto(`${url}#/run/${sweepRuns[1]!.id}`);
      await expect.poll(() => page.locator('pre.result').count(), { timeout: 20_000 }).toBe(1);
      seen.push(await page.content());
      for (const text of seen) expect(text).not.toContain(SECRET.UI_TEST_API_KEY);
    });
  },
  testbed !== undefined && !existsSync(CHROMIUM)
    ? `needs a browser at ${CHROMIUM} (apt-get install chromium)`
    : undefined,
);
