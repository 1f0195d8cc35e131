/// <reference lib="dom" />
/**
 * A run: its facts and parameters, its logs (live while it runs: server-sent events; stdout and
 * stderr apart; `\r` drawn as a terminal would), its metrics as charts, its result, its outputs,
 * its package; stop and remove behind a confirmation.
 */
import type { RunRecord } from '../../records/record.js';
import type { RunMetrics } from '../../routines/results/metrics.js';
import { MetricChart } from './charts.js';
import { getJson, post } from './client.js';
import { announce, confirmDialog, el } from './dom.js';
import { statusBadge, type Page } from './runsPage.js';
import { durationMs, formatDuration, formatNumber, formatTime } from './table.js';
import { renderTerminalLine } from './terminal.js';

/** Lines kept on the page per stream (the oldest go first). */
const MAX_LINES = 5000;
const REFRESH_MS = 2000;
const FINAL = new Set(['succeeded', 'failed', 'stopped', 'cancelled']);

interface RunAnswer {
  readonly run: RunRecord;
  readonly packageKept: boolean;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} kB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** One stream's log panel: a `<pre>` of lines, kept to MAX_LINES. */
class LogPanel {
  readonly section: HTMLElement;
  private readonly pre: HTMLElement;
  private readonly count: HTMLElement;
  private lines = 0;

  constructor(readonly stream: 'stdout' | 'stderr') {
    this.pre = el('pre', {
      class: `log log-${stream}`,
      role: 'log',
      'aria-label': stream,
      tabindex: '0',
      'data-stream': stream,
    });
    this.count = el('span', { class: 'count' }, '0 lines');
    this.section = el(
      'section',
      { class: 'log-panel' },
      el('h3', {}, stream, ' ', this.count),
      this.pre,
    );
  }

  add(line: string): void {
    const atBottom = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 4;
    this.pre.append(el('span', { class: 'line' }, renderTerminalLine(line), '\n'));
    this.lines += 1;
    if (this.pre.childElementCount > MAX_LINES) this.pre.firstElementChild?.remove();
    this.count.textContent = plural(this.lines, 'line');
    if (atBottom) this.pre.scrollTop = this.pre.scrollHeight;
  }

  note(text: string): void {
    this.pre.append(el('span', { class: 'note' }, text, '\n'));
  }
}

export function runPage(main: HTMLElement, id: string): Page {
  let disposed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let events: EventSource | undefined;
  const charts = new Map<string, MetricChart>();
  let record: RunRecord | undefined;
  let extrasLoaded = false;

  const heading = el('h1', {}, 'Run ', el('code', {}, id));
  const badge = el('span', { class: 'badge-holder' });
  const actions = el('div', { class: 'actions' });
  const facts = el('dl', { class: 'facts' });
  const parameters = el('pre', { class: 'parameters' });
  const stdout = new LogPanel('stdout');
  const stderr = new LogPanel('stderr');
  const logState = el('p', { class: 'log-state', 'aria-live': 'polite' });
  const metrics = el('div', { class: 'charts' });
  const metricTables = el('div');
  const result = el('div', {}, el('p', {}, 'When the run has ended.'));
  const outputs = el('div', {}, el('p', {}, 'When the run has ended.'));
  const pkg = el('dl', { class: 'facts' });
  const message = el('p', { class: 'message', role: 'status' });
  const section = (title: string, idName: string, ...children: Node[]): HTMLElement =>
    el('section', { 'aria-labelledby': idName }, el('h2', { id: idName }, title), ...children);
  main.replaceChildren(
    el('p', {}, el('a', { href: '#/' }, '← All runs')),
    heading,
    el('div', { class: 'headline' }, badge, actions),
    message,
    section('Details', 'details-h', facts),
    section('Parameters', 'parameters-h', parameters),
    section(
      'Logs',
      'logs-h',
      logState,
      el('div', { class: 'logs' }, stdout.section, stderr.section),
    ),
    section('Metrics', 'metrics-h', metrics, metricTables),
    section('Result', 'result-h', result),
    section('Outputs', 'outputs-h', outputs),
    section('Package', 'package-h', pkg),
  );

  function renderFacts(run: RunRecord, packageKept: boolean): void {
    badge.replaceChildren(statusBadge(run.status));
    const rows: [string, Node | string | undefined][] = [
      ['Job', `${run.job} ${run.version}`],
      [
        'Target',
        `${run.target} (${run.targetKind})${run.host === undefined ? '' : ` ${run.host}`}`,
      ],
      ['Node', run.node],
      ['Status', run.status],
      ['Exit code', run.exitCode === undefined ? undefined : String(run.exitCode)],
      ['Created', formatTime(run.createdAt)],
      ['Started', formatTime(run.startedAt)],
      ['Finished', formatTime(run.finishedAt)],
      ['Duration', formatDuration(durationMs(run, Date.now()))],
      [
        'Sweep',
        run.sweepId === undefined
          ? undefined
          : el(
              'a',
              { href: `#/sweep/${encodeURIComponent(run.sweepId)}` },
              `${run.sweepId} #${run.sweepIndex ?? 0}`,
            ),
      ],
    ];
    facts.replaceChildren(
      ...rows
        .filter(([, v]) => v !== undefined && v !== '')
        .flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]),
    );
    parameters.textContent = JSON.stringify(run.parameters, null, 2);
    const packageRows: [string, Node | string | undefined][] = [
      ['UID', run.uid],
      ['SHA-256', run.packageSha256],
      ['Image', run.image],
      ['Image id', run.imageId],
      [
        'Download',
        packageKept
          ? el(
              'a',
              {
                href: `/api/runs/${encodeURIComponent(run.id)}/package`,
                download: `${run.uid}.tar.gz`,
              },
              `${run.uid}.tar.gz`,
            )
          : `not kept on this machine: ferry get ${run.id}`,
      ],
    ];
    pkg.replaceChildren(
      ...packageRows
        .filter(([, v]) => v !== undefined)
        .flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]),
    );
    actions.replaceChildren();
    if (!FINAL.has(run.status) && run.status !== 'unknown') {
      const stop = el('button', { type: 'button', class: 'danger', id: 'stop' }, 'Stop');
      stop.addEventListener('click', () => void stopRun(run));
      actions.append(stop);
    } else {
      const remove = el('button', { type: 'button', class: 'danger', id: 'remove' }, 'Remove');
      remove.addEventListener('click', () => void removeRun(run));
      actions.append(remove);
    }
  }

  async function stopRun(run: RunRecord): Promise<void> {
    const choice = await confirmDialog(
      `Stop run ${run.id}?`,
      el(
        'p',
        {},
        'It gets SIGTERM (its job\u2019s stop() is called) and is killed after 10 s. A queued run is taken off its queue.',
      ),
      [{ label: 'Stop the run', value: 'stop', danger: true }],
    );
    if (choice !== 'stop') return;
    message.textContent = `Stopping ${run.id}…`;
    try {
      const answer = await post<{ run: RunRecord }>(`/api/runs/${encodeURIComponent(run.id)}/stop`);
      message.textContent = `Run ${run.id} is ${answer.run.status}.`;
      await refresh(true);
    } catch (error) {
      message.textContent = `Could not stop it: ${(error as Error).message}`;
    }
  }

  async function removeRun(run: RunRecord): Promise<void> {
    const needsChoice = run.hasOutputs === true && run.outputsDownloadedTo === undefined;
    const body = el('div', {}, el('p', {}, 'Its container, record and saved logs are removed.'));
    if (needsChoice)
      body.append(
        el(
          'p',
          {},
          'Its outputs were never downloaded: keep them beside the record, or drop them?',
        ),
      );
    const choice = await confirmDialog(
      `Remove run ${run.id}?`,
      body,
      needsChoice
        ? [
            { label: 'Remove, keep outputs', value: 'keep' },
            { label: 'Remove with outputs', value: 'drop', danger: true },
          ]
        : [{ label: 'Remove the run', value: 'remove', danger: true }],
    );
    if (choice === undefined) return;
    try {
      const answer = await post<{ removed: string[] }>(
        `/api/runs/${encodeURIComponent(run.id)}/remove`,
        choice === 'keep' || choice === 'drop' ? { outputs: choice } : {},
      );
      announce(`removed ${answer.removed.join(', ')}`);
      location.hash = '#/';
    } catch (error) {
      message.textContent = `Could not remove it: ${(error as Error).message}`;
    }
  }

  function renderMetrics(data: RunMetrics): void {
    const byName = new Map<string, RunMetrics['points'][number][]>();
    for (const point of data.points) {
      const list = byName.get(point.name) ?? [];
      list.push(point);
      byName.set(point.name, list);
    }
    if (byName.size === 0) {
      metrics.replaceChildren(el('p', {}, 'No metric logged (context.logMetric).'));
      return;
    }
    if (metrics.querySelector('figure') === null) metrics.replaceChildren();
    const tables: HTMLElement[] = [];
    for (const [name, points] of [...byName].sort(([a], [b]) => a.localeCompare(b))) {
      const chart = charts.get(name);
      if (chart === undefined) {
        const created = new MetricChart(name, points);
        charts.set(name, created);
        metrics.append(created.figure);
      } else chart.update(points);
      tables.push(
        el(
          'details',
          {},
          el('summary', {}, `${name}: ${plural(points.length, 'point')} as a table`),
          el(
            'table',
            { class: 'points' },
            el(
              'thead',
              {},
              el('tr', {}, el('th', { scope: 'col' }, 'step'), el('th', { scope: 'col' }, name)),
            ),
            el(
              'tbody',
              {},
              ...points.map((p) =>
                el(
                  'tr',
                  {},
                  el('td', { class: 'num' }, String(p.step)),
                  el('td', { class: 'num' }, formatNumber(p.value)),
                ),
              ),
            ),
          ),
        ),
      );
    }
    metricTables.replaceChildren(...tables);
  }

  async function loadExtras(run: RunRecord): Promise<void> {
    extrasLoaded = true;
    const base = `/api/runs/${encodeURIComponent(run.id)}`;
    const [resultAnswer, outputsAnswer] = await Promise.allSettled([
      getJson<{ text?: string; error?: string }>(`${base}/result`),
      getJson<{ files: { path: string; size: number }[] }>(`${base}/outputs`),
    ]);
    if (resultAnswer.status === 'fulfilled') {
      const value = resultAnswer.value.value;
      result.replaceChildren(
        value.text === undefined
          ? el('p', {}, value.error ?? 'No result.')
          : el('pre', { class: 'result' }, value.text),
      );
    } else result.replaceChildren(el('p', {}, `Could not read it: ${String(resultAnswer.reason)}`));
    if (outputsAnswer.status === 'fulfilled') {
      const files = outputsAnswer.value.value.files;
      outputs.replaceChildren(
        files.length === 0
          ? el('p', {}, 'No output files.')
          : el(
              'ul',
              { class: 'outputs' },
              ...files.map((f) =>
                el(
                  'li',
                  {},
                  el(
                    'a',
                    {
                      href: `${base}/outputs/file?path=${encodeURIComponent(f.path)}`,
                      download: f.path.split('/').at(-1),
                    },
                    f.path,
                  ),
                  ` (${formatBytes(f.size)})`,
                ),
              ),
            ),
      );
    } else
      outputs.replaceChildren(el('p', {}, `Could not read them: ${String(outputsAnswer.reason)}`));
  }

  function followLogs(): void {
    events = new EventSource(`/api/runs/${encodeURIComponent(id)}/logs`);
    logState.textContent = 'Following the logs…';
    events.addEventListener('line', (event) => {
      const data = JSON.parse((event as MessageEvent<string>).data) as {
        stream: 'stdout' | 'stderr';
        line: string;
      };
      (data.stream === 'stderr' ? stderr : stdout).add(data.line);
    });
    events.addEventListener('end', () => {
      logState.textContent = 'End of the logs.';
      events?.close();
    });
    events.addEventListener('failure', (event) => {
      logState.textContent = `Logs unavailable: ${(JSON.parse((event as MessageEvent<string>).data) as { error: string }).error}`;
      events?.close();
    });
    events.addEventListener('error', () => {
      if (events?.readyState === EventSource.CLOSED)
        logState.textContent = 'The log stream closed.';
      events?.close();
    });
  }

  async function refresh(once = false): Promise<void> {
    try {
      const answer = (await getJson<RunAnswer>(`/api/runs/${encodeURIComponent(id)}`)).value;
      if (disposed) return;
      const wasLive = record !== undefined && !FINAL.has(record.status);
      record = answer.run;
      renderFacts(answer.run, answer.packageKept);
      const live = !FINAL.has(answer.run.status);
      if (live || !extrasLoaded || wasLive) {
        const data = (await getJson<RunMetrics>(`/api/runs/${encodeURIComponent(id)}/metrics`))
          .value;
        if (!disposed) renderMetrics(data);
      }
      if (!live && !extrasLoaded) await loadExtras(answer.run);
      if (once) return;
      if (live) timer = setTimeout(() => void refresh(), REFRESH_MS);
    } catch (error) {
      message.textContent = `Could not load the run: ${(error as Error).message}`;
      if (!once && !disposed) timer = setTimeout(() => void refresh(), REFRESH_MS * 2);
    }
  }
  followLogs();
  void refresh();
  return {
    dispose() {
      disposed = true;
      if (timer !== undefined) clearTimeout(timer);
      events?.close();
      for (const chart of charts.values()) chart.destroy();
    },
  };
}
