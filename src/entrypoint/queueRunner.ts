// Ferry's sweep queue runner, bundled at build time into one file (node built-ins only, no npm
// packages) that `src/sweeps/queue.ts` copies into its container. It runs in a container on the sweep's target, from the sweep's own
// image (only `node` is needed), with the engine's socket
// mounted at /var/run/docker.sock. The queue is the sweep's run containers themselves: created, not
// started, labelled `ferry.sweep=<id>`, `ferry.role=run`, `ferry.sweep-index=<n>` and, when the
// target has GPUs, `ferry.slot=<gpu>`. Every poll it lists them and starts the lowest-index created
// ones while fewer than FERRY_MAX_PARALLEL run (and, with slots, their GPU is free). Its state lives
// in the engine, so it survives the CLI exiting and its own restart (restart policy on-failure); it
// exits 0 when no run is left queued or running (1 when some could not be started). A run's end
// (Docker's event stream) wakes it at once; otherwise it looks every FERRY_POLL_MS.
import http from 'node:http';
import { NAME_SUFFIXES, RUN_LABELS } from '../routines/docker/labels.js';
import { exitWhenDrained } from './exitWhenDrained.js';

/** The fields of Docker's container list this runner reads. */
interface ContainerSummary {
  readonly Id: string;
  readonly Names: readonly string[];
  readonly State: string;
  readonly Labels: Readonly<Record<string, string | undefined>>;
}

interface ApiResponse {
  readonly status: number;
  readonly body: unknown;
}

const SOCKET = process.env.FERRY_DOCKER_SOCKET || '/var/run/docker.sock';
const sweepId = process.env.FERRY_SWEEP_ID ?? '';
const maxParallel = Number(process.env.FERRY_MAX_PARALLEL || '1');
const pollMs = Number(process.env.FERRY_POLL_MS || '500');

if (sweepId === '' || !Number.isInteger(maxParallel) || maxParallel < 1) {
  console.error('FERRY_SWEEP_ID and a FERRY_MAX_PARALLEL above 0 are required');
  await exitWhenDrained(2);
}

function log(message: string): void {
  console.log(`${new Date().toISOString()} ${message}`);
}

/** One Docker API call over the mounted socket; resolves to { status, body }. */
function api(method: string, path: string, body?: unknown): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const request = http.request(
      {
        socketPath: SOCKET,
        method,
        path,
        headers:
          payload === undefined
            ? {}
            : { 'Content-Type': 'application/json', 'Content-Length': payload.length },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text === '' ? undefined : JSON.parse(text);
          } catch (error) {
            // Not JSON (an engine's plain-text error): keep the text.
            if (!(error instanceof SyntaxError)) throw error;
          }
          resolve({ status: response.statusCode ?? 0, body: parsed });
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    if (payload !== undefined) request.write(payload);
    request.end();
  });
}

async function listRuns(): Promise<ContainerSummary[]> {
  const filters = JSON.stringify({
    label: [`${RUN_LABELS.sweep}=${sweepId}`, `${RUN_LABELS.role}=run`],
  });
  const response = await api(
    'GET',
    `/containers/json?all=1&filters=${encodeURIComponent(filters)}`,
  );
  if (response.status !== 200)
    throw new Error(`listing containers: HTTP ${response.status} ${JSON.stringify(response.body)}`);
  return response.body as ContainerSummary[];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
// A run that ends wakes the loop at once (Docker's event stream), so a free slot is filled without
// waiting for the next poll; the poll remains the fallback when the stream is unavailable. An event
// that arrives while the loop is busy is remembered, so the next nap returns at once.
let woken = false;
let endNap: () => void = () => undefined;
function wake(): void {
  woken = true;
  endNap();
}
function watchEvents(): void {
  const filters = JSON.stringify({
    type: ['container'],
    event: ['die', 'destroy'],
    label: [`${RUN_LABELS.sweep}=${sweepId}`],
  });
  const request = http.get(
    { socketPath: SOCKET, path: `/events?filters=${encodeURIComponent(filters)}` },
    (response) => {
      response.on('data', wake);
      response.on('close', () => setTimeout(watchEvents, 1000));
      // The poll goes on without the stream; 'close' follows and reconnects.
      response.on('error', (error) => log(`event stream: ${error.message}`));
    },
  );
  request.on('error', () => setTimeout(watchEvents, 1000));
}
watchEvents();
/** The engine sends `die` a moment before a container's listed state says it exited. */
const SETTLE_MS = 100;
function nap(ms: number): Promise<void> {
  if (woken) {
    woken = false;
    return sleep(SETTLE_MS);
  }
  return new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      endNap = () => undefined;
      const byEvent = woken;
      woken = false;
      if (byEvent) setTimeout(resolve, SETTLE_MS);
      else resolve();
    }
    endNap = done;
  });
}
const indexOf = (container: ContainerSummary): number =>
  Number(container.Labels[RUN_LABELS.sweepIndex] ?? 0);
const runIdOf = (container: ContainerSummary): string =>
  container.Labels[RUN_LABELS.runId] ?? container.Id.slice(0, 12);

let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
  log('SIGTERM: the queue stops here; no further run will start');
  // Its log says which run started when: deliver it before the engine's kill.
  void exitWhenDrained(0, { withinMs: 1500 });
});

const failedToStart = new Set<string>();

async function start(container: ContainerSummary): Promise<void> {
  const slot = container.Labels[RUN_LABELS.slot];
  const response = await api('POST', `/containers/${container.Id}/start`);
  if (response.status === 204 || response.status === 304) {
    log(
      `started run ${runIdOf(container)} (#${indexOf(container)}${slot === undefined ? '' : `, GPU ${slot}`})`,
    );
    return;
  }
  // 404: taken off the queue (ferry stop) since the list.
  if (response.status === 404) return;
  failedToStart.add(container.Id);
  const message =
    typeof response.body === 'object' && response.body !== null && 'message' in response.body
      ? String(response.body.message)
      : String(response.body);
  log(
    `could not start run ${runIdOf(container)} (#${indexOf(container)}): HTTP ${response.status} ${message}`,
  );
  // Renamed, so that the failure outlives this process and `ferry status` can show it.
  const name = (container.Names[0] ?? `/${container.Id}`).slice(1);
  await api(
    'POST',
    `/containers/${container.Id}/rename?name=${encodeURIComponent(`${name}${NAME_SUFFIXES.startFailed}`)}`,
  ).catch((error: unknown) =>
    log(`could not mark run ${runIdOf(container)} as failed to start: ${String(error)}`),
  );
}
let lastSummary = '';
log(`sweep ${sweepId}: at most ${maxParallel} at once, polling every ${pollMs} ms`);

for (;;) {
  if (stopping) break;
  let containers: ContainerSummary[];
  try {
    containers = await listRuns();
  } catch (error) {
    // The engine may be restarting: try again rather than give up the queue.
    log(
      `could not list the sweep's runs (${error instanceof Error ? error.message : String(error)}); retrying`,
    );
    await sleep(Math.max(pollMs, 2000));
    continue;
  }
  const running = containers.filter((c) => c.State === 'running' || c.State === 'restarting');
  const queued = containers
    .filter(
      (c) =>
        c.State === 'created' &&
        !failedToStart.has(c.Id) &&
        !c.Names.some((name) => name.endsWith(NAME_SUFFIXES.startFailed)),
    )
    .sort((a, b) => indexOf(a) - indexOf(b));
  const ended = containers.filter((c) => c.State === 'exited' || c.State === 'dead').length;
  const summary = `${ended} ended, ${running.length} running, ${queued.length} queued`;
  if (summary !== lastSummary) {
    log(summary);
    lastSummary = summary;
  }
  if (queued.length === 0 && running.length === 0) {
    log(
      `sweep ${sweepId} done${failedToStart.size > 0 ? `; ${failedToStart.size} runs could not start` : ''}`,
    );
    await exitWhenDrained(failedToStart.size > 0 ? 1 : 0);
  }
  const busySlots = new Set(
    running.map((c) => c.Labels[RUN_LABELS.slot]).filter((s) => s !== undefined),
  );
  let free = maxParallel - running.length;
  const chosen: ContainerSummary[] = [];
  for (const container of queued) {
    if (free <= 0 || stopping) break;
    const slot = container.Labels[RUN_LABELS.slot];
    if (slot !== undefined && busySlots.has(slot)) continue;
    chosen.push(container);
    free -= 1;
    if (slot !== undefined) busySlots.add(slot);
  }
  // Started together: a start takes the engine a moment, and slots should not wait on each other.
  await Promise.all(chosen.map(start));
  await nap(pollMs);
}
