/**
 * `ferry ui` with 1,000 runs in the records (synthetic, in a temporary project; the local engine is only asked for runs the records lack):
 * the first page load in chromium (to the runs table drawn), and what a refresh costs — the
 * server's listing cold, warm, unchanged (304, the page's every-2-s poll), and after one record
 * changed — with the bytes sent. `npx tsx bench/ui/run.ts [runs=1000] [rounds=5]`
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { CliContext } from '../../src/cli/context.js';
import { UiApi } from '../../src/ui/api.js';
import { startUiServer } from '../../src/ui/server.js';
import { formatBytes, formatMs, ratio } from '../support.js';
import { writeSyntheticProject } from './synthetic.js';

const CHROMIUM = process.env.FERRY_CHROMIUM ?? '/usr/bin/chromium';
const runs = Number(process.argv[2] ?? 1000);
const rounds = Number(process.argv[3] ?? 5);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function get(
  port: number,
  pathname: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; bytes: number; etag: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: pathname,
        headers: { 'Accept-Encoding': 'gzip', ...headers },
      },
      (response) => {
        let bytes = 0;
        response.on('data', (chunk: Buffer) => (bytes += chunk.length));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            bytes,
            etag: String(response.headers.etag ?? ''),
            ms: performance.now() - started,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-ui-'));
  const store = await writeSyntheticProject(dir, runs);
  const context = new CliContext(
    { stdout: new PassThrough(), stderr: new PassThrough(), cwd: dir, env: process.env },
    { quiet: true },
    new AbortController().signal,
  );
  const server = await startUiServer(new UiApi(context), { host: '127.0.0.1', port: 0 });
  const port = server.port;
  try {
    console.log(
      `ferry ui over ${runs} runs (${runs / 20} sweeps of 20), load average ${os.loadavg()[0]!.toFixed(1)}`,
    );
    const cold = await get(port, '/api/runs');
    const warm: number[] = [];
    let etag = cold.etag;
    let fullBytes = cold.bytes;
    for (let i = 0; i < rounds * 4; i++) {
      const answer = await get(port, '/api/runs');
      warm.push(answer.ms);
      etag = answer.etag;
      fullBytes = answer.bytes;
    }
    const unchanged: number[] = [];
    let unchangedBytes = 0;
    for (let i = 0; i < rounds * 4; i++) {
      const answer = await get(port, '/api/runs', { 'If-None-Match': etag });
      if (answer.status !== 304) throw new Error(`expected 304, got ${answer.status}`);
      unchanged.push(answer.ms);
      unchangedBytes = answer.bytes;
    }
    const changed: number[] = [];
    const records = await store.list();
    for (let i = 0; i < rounds * 4; i++) {
      // As an executor does when a run's status changes.
      await store.put({ ...records[i]!, status: 'stopped' });
      const answer = await get(port, '/api/runs', { 'If-None-Match': etag });
      if (answer.status !== 200) throw new Error(`expected 200, got ${answer.status}`);
      etag = answer.etag;
      changed.push(answer.ms);
    }
    console.log('');
    console.log('GET /api/runs (gzip)                         median');
    console.log(
      `  first (reads and parses every record)    ${formatMs(cold.ms).padStart(9)}   ${formatBytes(cold.bytes)}`,
    );
    console.log(
      `  again, nothing changed, no ETag          ${formatMs(median(warm)).padStart(9)}   ${formatBytes(fullBytes)}`,
    );
    console.log(
      `  refresh, nothing changed (304)           ${formatMs(median(unchanged)).padStart(9)}   ${unchangedBytes} B`,
    );
    console.log(
      `  refresh, one record changed              ${formatMs(median(changed)).padStart(9)}   ${formatBytes(fullBytes)}`,
    );
    console.log(`  304 vs full answer: ${ratio(median(unchanged), median(warm))} faster`);

    if (!existsSync(CHROMIUM)) {
      console.log(`\nno browser at ${CHROMIUM}: page load not measured (apt-get install chromium)`);
      return;
    }
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const loads: number[] = [];
      const sorts: number[] = [];
      const filters: number[] = [];
      for (let i = 0; i < rounds; i++) {
        // A new context each round: no cache, as a first visit.
        const page = await (await browser.newContext()).newPage();
        const started = performance.now();
        await page.goto(server.url);
        await page.waitForSelector('table.runs tbody tr');
        loads.push(performance.now() - started);
        sorts.push(
          await page.evaluate(() => {
            const t = performance.now();
            (document.querySelector('button[data-column="metric:loss"]') as HTMLElement).click();
            return performance.now() - t;
          }),
        );
        filters.push(
          await page.evaluate(() => {
            const input = document.getElementById('filter') as HTMLInputElement;
            const t = performance.now();
            input.value = 'adam';
            input.dispatchEvent(new Event('input'));
            return performance.now() - t;
          }),
        );
        await page.context().close();
      }
      console.log('');
      console.log(`in chromium, ${rounds} rounds                        median     min     max`);
      const row = (label: string, values: number[]) =>
        console.log(
          `  ${label.padEnd(40)} ${formatMs(median(values)).padStart(7)} ${formatMs(Math.min(...values)).padStart(7)} ${formatMs(Math.max(...values)).padStart(7)}`,
        );
      row('first load, to the runs table drawn', loads);
      row(`sort ${runs} runs by a metric, redraw`, sorts);
      row(`filter ${runs} runs by text, redraw`, filters);
    } finally {
      await browser.close();
    }
  } finally {
    await server.close();
    await context.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
