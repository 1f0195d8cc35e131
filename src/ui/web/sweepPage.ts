/// <reference lib="dom" />
/**
 * A sweep: its runs with their parameters and metrics, a chart of a metric against a parameter,
 * parallel coordinates when it has several parameters, the best run marked.
 */
import type { RunRecord } from '../../records/record.js';
import { parallelCoordinates, scaleOf, scatterChart, type Axis } from './charts.js';
import { getJson, post } from './client.js';
import { confirmDialog, el } from './dom.js';
import { statusBadge, statusCounts, type Page } from './runsPage.js';
import { bestRun, formatNumber, lowerIsBetter, metricNames, parameterNames } from './table.js';

const REFRESH_MS = 2000;
const FINAL = new Set(['succeeded', 'failed', 'stopped', 'cancelled']);

function parameterValue(value: unknown): number | string | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'number'
    ? value
    : typeof value === 'string'
      ? value
      : JSON.stringify(value);
}

export function sweepPage(main: HTMLElement, sweepId: string): Page {
  let disposed = false;
  let loaded = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let runs: RunRecord[] = [];
  let metric = '';
  let parameter = '';
  let lower = true;
  let destroyChart: (() => void) | undefined;

  const summary = el('p', { class: 'summary', 'aria-live': 'polite' });
  const actions = el('div', { class: 'actions' });
  const controls = el('form', { class: 'filters' });
  const tableHolder = el('div', { class: 'table-wrap' });
  const chartHolder = el('div', { class: 'charts' });
  const parallelHolder = el('div');
  const message = el('p', { class: 'message', role: 'status' });
  controls.addEventListener('submit', (e) => e.preventDefault());
  main.replaceChildren(
    el('p', {}, el('a', { href: '#/' }, '← All runs')),
    el('h1', {}, 'Sweep ', el('code', {}, sweepId)),
    el('div', { class: 'headline' }, summary, actions),
    message,
    controls,
    el(
      'section',
      { 'aria-labelledby': 'sweep-runs-h' },
      el('h2', { id: 'sweep-runs-h' }, 'Runs'),
      tableHolder,
    ),
    el(
      'section',
      { 'aria-labelledby': 'sweep-chart-h' },
      el('h2', { id: 'sweep-chart-h' }, 'Metric against a parameter'),
      chartHolder,
    ),
    el(
      'section',
      { 'aria-labelledby': 'sweep-parallel-h' },
      el('h2', { id: 'sweep-parallel-h' }, 'Parallel coordinates'),
      parallelHolder,
    ),
  );

  function select(
    idName: string,
    label: string,
    options: readonly string[],
    value: string,
    onChange: (v: string) => void,
  ): HTMLElement[] {
    const element = el(
      'select',
      { id: idName },
      ...options.map((o) => el('option', { value: o }, o)),
    );
    element.value = value;
    element.addEventListener('change', () => {
      onChange(element.value);
      render();
      (document.getElementById(idName) as HTMLElement | null)?.focus();
    });
    return [el('label', { for: idName }, label), element];
  }

  function render(): void {
    const metrics = metricNames(runs);
    const parameters = parameterNames(runs);
    if (!metrics.includes(metric)) {
      metric = metrics[0] ?? '';
      lower = lowerIsBetter(metric);
    }
    if (!parameters.includes(parameter)) parameter = parameters[0] ?? '';
    // The best of the runs that succeeded; of all of them when none did.
    const succeeded = runs.filter((r) => r.status === 'succeeded');
    const best =
      metric === '' ? undefined : bestRun(succeeded.length > 0 ? succeeded : runs, metric, lower);
    summary.replaceChildren(
      `${runs.length} runs: ${statusCounts(runs)}`,
      best === undefined
        ? ''
        : ` · best ${metric} ${formatNumber(best.metrics?.[metric])} (run #${best.sweepIndex ?? 0})`,
    );
    actions.replaceChildren();
    if (runs.some((r) => !FINAL.has(r.status) && r.status !== 'unknown')) {
      const stop = el(
        'button',
        { type: 'button', class: 'danger', id: 'stop-sweep' },
        'Stop the sweep',
      );
      stop.addEventListener('click', () => void stopSweep());
      actions.append(stop);
    }
    controls.replaceChildren(
      ...(metrics.length > 0
        ? select('metric', 'Metric', metrics, metric, (v) => {
            metric = v;
            lower = lowerIsBetter(v);
          })
        : []),
      ...(metrics.length > 0
        ? select(
            'direction',
            'Best is',
            ['lowest', 'highest'],
            lower ? 'lowest' : 'highest',
            (v) => {
              lower = v === 'lowest';
            },
          )
        : []),
      ...(parameters.length > 0
        ? select('parameter', 'Parameter', parameters, parameter, (v) => {
            parameter = v;
          })
        : []),
    );

    const head = el(
      'tr',
      {},
      el('th', { scope: 'col' }, '#'),
      el('th', { scope: 'col' }, 'Run'),
      el('th', { scope: 'col' }, 'Status'),
      ...parameters.map((p) => el('th', { scope: 'col' }, p)),
      ...metrics.map((m) => el('th', { scope: 'col', class: 'num' }, m)),
    );
    const body = el('tbody');
    for (const run of runs) {
      const isBest = run === best;
      body.append(
        el(
          'tr',
          { class: isBest ? 'best' : undefined, 'data-run': run.id },
          el('td', { class: 'num' }, String(run.sweepIndex ?? 0)),
          el(
            'th',
            { scope: 'row' },
            el('a', { href: `#/run/${encodeURIComponent(run.id)}` }, run.id),
            isBest
              ? el('span', { class: 'best-mark', title: `best ${metric}` }, ' ★ best')
              : undefined,
          ),
          el('td', {}, statusBadge(run.status)),
          ...parameters.map((p) => {
            const value = parameterValue(run.parameters[p]);
            return typeof value === 'number'
              ? el('td', { class: 'num' }, formatNumber(value))
              : el('td', {}, value ?? '');
          }),
          ...metrics.map((m) => el('td', { class: 'num' }, formatNumber(run.metrics?.[m]))),
        ),
      );
    }
    tableHolder.replaceChildren(
      el(
        'table',
        { class: 'sweep-runs' },
        el('caption', { class: 'visually-hidden' }, `Runs of ${sweepId}`),
        el('thead', {}, head),
        body,
      ),
    );

    destroyChart?.();
    destroyChart = undefined;
    const withMetric = runs.filter(
      (r) => r.metrics?.[metric] !== undefined && r.parameters[parameter] !== undefined,
    );
    if (metric === '' || parameter === '' || withMetric.length === 0) {
      chartHolder.replaceChildren(el('p', {}, 'When runs have logged metrics.'));
    } else {
      const values = withMetric.map((r) => parameterValue(r.parameters[parameter]));
      const numeric = values.every((v) => typeof v === 'number');
      const scale = scaleOf(values);
      const categories = numeric ? [] : [...new Set(values.map(String))].sort();
      const chart = scatterChart(
        numeric ? parameter : `${parameter} (${categories.join(', ')})`,
        metric,
        withMetric.map((r) => ({
          x: numeric
            ? (r.parameters[parameter] as number)
            : Math.round(scale(parameterValue(r.parameters[parameter]))! * (categories.length - 1)),
          y: r.metrics![metric]!,
          best: r === best,
        })),
      );
      chartHolder.replaceChildren(chart.figure);
      destroyChart = chart.destroy;
    }
    if (parameters.length >= 2 && metric !== '') {
      const axes: Axis[] = [
        ...parameters.map((p) => ({
          name: p,
          values: runs.map((r) => parameterValue(r.parameters[p])),
        })),
        { name: metric, values: runs.map((r) => r.metrics?.[metric]) },
      ];
      const index = best === undefined ? undefined : runs.indexOf(best);
      parallelHolder.replaceChildren(parallelCoordinates(axes, index));
    } else {
      parallelHolder.replaceChildren(el('p', {}, 'With two parameters or more.'));
    }
  }

  async function stopSweep(): Promise<void> {
    const choice = await confirmDialog(
      `Stop sweep ${sweepId}?`,
      el(
        'p',
        {},
        'Its queue stops first, so no further run starts; running runs are stopped and queued ones cancelled.',
      ),
      [{ label: 'Stop the sweep', value: 'stop', danger: true }],
    );
    if (choice !== 'stop') return;
    message.textContent = `Stopping ${sweepId}…`;
    try {
      const answer = await post<{ runs: RunRecord[] }>(
        `/api/sweeps/${encodeURIComponent(sweepId)}/stop`,
      );
      message.textContent = `Stopped: ${statusCounts(answer.runs)}.`;
    } catch (error) {
      message.textContent = `Could not stop it: ${(error as Error).message}`;
    }
  }

  async function refresh(): Promise<void> {
    try {
      const { value, changed } = await getJson<{ runs: RunRecord[] }>('/api/runs');
      if (disposed) return;
      // The listing's ETag is shared by the pages: a page's first answer may be a 304.
      if (changed || !loaded) {
        loaded = true;
        runs = value.runs
          .filter((r) => r.sweepId === sweepId)
          .sort((a, b) => (a.sweepIndex ?? 0) - (b.sweepIndex ?? 0));
        if (runs.length === 0) summary.textContent = `No sweep ${sweepId} in the records.`;
        else render();
      }
    } catch (error) {
      message.textContent = `Could not load the sweep: ${(error as Error).message}`;
    }
    if (!disposed) timer = setTimeout(() => void refresh(), REFRESH_MS);
  }
  void refresh();
  return {
    dispose() {
      disposed = true;
      if (timer !== undefined) clearTimeout(timer);
      destroyChart?.();
    },
  };
}
