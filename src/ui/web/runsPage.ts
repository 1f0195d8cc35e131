/// <reference lib="dom" />
/** The runs page: every run and sweep, refreshed live; filter and sort by any column. */
import type { RunRecord } from '../../records/record.js';
import { getJson } from './client.js';
import { announce, el } from './dom.js';
import { applyTable, formatTime, runColumns, type Column, type TableState } from './table.js';

const PAGE_SIZE = 100;
const REFRESH_MS = 2000;
const SWEEPS_SHOWN = 8;

export interface Page {
  dispose(): void;
}

export function statusBadge(status: string): HTMLElement {
  return el('span', { class: `status status-${status}` }, status);
}

/** The sweeps in the records: id, runs, statuses, created. */
export function sweepSummaries(records: readonly RunRecord[]): { id: string; runs: RunRecord[] }[] {
  const sweeps = new Map<string, RunRecord[]>();
  for (const record of records) {
    if (record.sweepId === undefined) continue;
    const runs = sweeps.get(record.sweepId) ?? [];
    runs.push(record);
    sweeps.set(record.sweepId, runs);
  }
  return [...sweeps].map(([id, runs]) => ({ id, runs }));
}

export function statusCounts(runs: readonly RunRecord[]): string {
  const counts = new Map<string, number>();
  for (const run of runs) counts.set(run.status, (counts.get(run.status) ?? 0) + 1);
  return [...counts].map(([s, n]) => `${n} ${s}`).join(', ');
}

export function runsPage(main: HTMLElement): Page {
  let state: TableState = { sort: 'created', desc: true, filter: '', filterColumn: '' };
  let page = 0;
  let records: readonly RunRecord[] = [];
  let disposed = false;
  let loaded = false;
  let allSweeps = false;

  const heading = el('h1', {}, 'Runs');
  const filterInput = el('input', {
    type: 'search',
    id: 'filter',
    placeholder: 'text in the rows',
  });
  const filterColumn = el('select', { id: 'filter-column' });
  const summary = el('p', { class: 'summary', 'aria-live': 'polite' });
  const sweepsSection = el('section', { 'aria-labelledby': 'sweeps-heading' });
  const table = el('table', { class: 'runs', 'aria-describedby': 'runs-summary' });
  summary.id = 'runs-summary';
  const pager = el('nav', { 'aria-label': 'Pages of runs', class: 'pager' });
  main.replaceChildren(
    heading,
    sweepsSection,
    el(
      'form',
      { class: 'filters', role: 'search' },
      el('label', { for: 'filter' }, 'Filter'),
      filterInput,
      el('label', { for: 'filter-column' }, 'in'),
      filterColumn,
    ),
    summary,
    el('div', { class: 'table-wrap' }, table),
    pager,
  );
  filterInput.addEventListener('input', () => {
    state = { ...state, filter: filterInput.value };
    page = 0;
    render();
  });
  filterColumn.addEventListener('change', () => {
    state = { ...state, filterColumn: filterColumn.value };
    page = 0;
    render();
  });
  main.querySelector('form')!.addEventListener('submit', (e) => e.preventDefault());

  function renderSweeps(): void {
    const sweeps = sweepSummaries(records);
    if (sweeps.length === 0) {
      sweepsSection.replaceChildren();
      return;
    }
    const body = el('tbody');
    const newest = sweeps.reverse();
    for (const sweep of allSweeps ? newest : newest.slice(0, SWEEPS_SHOWN)) {
      body.append(
        el(
          'tr',
          {},
          el(
            'th',
            { scope: 'row' },
            el('a', { href: `#/sweep/${encodeURIComponent(sweep.id)}` }, sweep.id),
          ),
          el('td', {}, sweep.runs[0]!.target),
          el('td', {}, String(sweep.runs.length)),
          el('td', {}, statusCounts(sweep.runs)),
          el('td', {}, formatTime(sweep.runs[0]!.createdAt)),
        ),
      );
    }
    sweepsSection.replaceChildren(
      el('h2', { id: 'sweeps-heading' }, 'Sweeps'),
      el(
        'table',
        { class: 'sweeps' },
        el(
          'thead',
          {},
          el(
            'tr',
            {},
            ...['Sweep', 'Target', 'Runs', 'Statuses', 'Created'].map((h) =>
              el('th', { scope: 'col' }, h),
            ),
          ),
        ),
        body,
      ),
    );
    if (newest.length > SWEEPS_SHOWN) {
      const toggle = el(
        'button',
        { type: 'button', 'aria-expanded': String(allSweeps) },
        allSweeps ? `Show the ${SWEEPS_SHOWN} newest sweeps` : `Show all ${newest.length} sweeps`,
      );
      toggle.addEventListener('click', () => {
        allSweeps = !allSweeps;
        renderSweeps();
      });
      sweepsSection.append(toggle);
    }
  }

  function header(columns: readonly Column[]): HTMLElement {
    const row = el('tr');
    for (const column of columns) {
      const sorted = state.sort === column.key;
      const button = el(
        'button',
        { type: 'button', class: 'sort', 'data-column': column.key },
        column.label,
        sorted ? (state.desc ? ' ▼' : ' ▲') : '',
      );
      button.addEventListener('click', () => {
        state = { ...state, sort: column.key, desc: sorted ? !state.desc : false };
        render();
        (
          table.querySelector(
            `button[data-column="${CSS.escape(column.key)}"]`,
          ) as HTMLElement | null
        )?.focus();
        announce(`sorted by ${column.label}, ${state.desc ? 'descending' : 'ascending'}`);
      });
      row.append(
        el(
          'th',
          {
            scope: 'col',
            'aria-sort': sorted ? (state.desc ? 'descending' : 'ascending') : 'none',
            class: column.numeric === true ? 'num' : undefined,
          },
          button,
        ),
      );
    }
    return el('thead', {}, row);
  }

  function render(): void {
    const columns = runColumns(records, Date.now());
    const selected = filterColumn.value;
    filterColumn.replaceChildren(
      el('option', { value: '' }, 'any column'),
      ...columns.map((c) => el('option', { value: c.key }, c.label)),
    );
    filterColumn.value = columns.some((c) => c.key === selected) ? selected : '';
    const rows = applyTable(records, columns, state);
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    page = Math.min(page, pages - 1);
    const shown = rows.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
    const body = el('tbody');
    for (const record of shown) {
      const row = el('tr', { 'data-run': record.id });
      for (const column of columns) {
        const text = column.text(record);
        let cell: HTMLElement;
        if (column.key === 'id') {
          cell = el(
            'th',
            { scope: 'row' },
            el('a', { href: `#/run/${encodeURIComponent(record.id)}` }, text),
          );
        } else if (column.key === 'sweep' && record.sweepId !== undefined) {
          cell = el(
            'td',
            {},
            el('a', { href: `#/sweep/${encodeURIComponent(record.sweepId)}` }, text),
          );
        } else if (column.key === 'status') {
          cell = el('td', {}, statusBadge(record.status));
        } else {
          cell = el('td', { class: column.numeric === true ? 'num' : undefined }, text);
        }
        row.append(cell);
      }
      body.append(row);
    }
    table.replaceChildren(
      el('caption', { class: 'visually-hidden' }, 'Runs'),
      header(columns),
      body,
    );
    summary.textContent =
      records.length === 0
        ? 'No runs yet: start one with ferry run or ferry sweep.'
        : `${rows.length} of ${records.length} runs${pages > 1 ? `, page ${page + 1} of ${pages}` : ''}`;
    pager.replaceChildren();
    if (pages > 1) {
      const previous = el('button', { type: 'button' }, 'Previous page');
      const next = el('button', { type: 'button' }, 'Next page');
      previous.disabled = page === 0;
      next.disabled = page >= pages - 1;
      previous.addEventListener('click', () => {
        page -= 1;
        render();
      });
      next.addEventListener('click', () => {
        page += 1;
        render();
      });
      pager.append(previous, next);
    }
    renderSweeps();
  }

  let timer: ReturnType<typeof setTimeout> | undefined;
  async function refresh(): Promise<void> {
    try {
      const { value, changed } = await getJson<{ runs: RunRecord[] }>('/api/runs');
      if (disposed) return;
      // The listing's ETag is shared by the pages: a page's first answer may be a 304.
      if (changed || !loaded) {
        loaded = true;
        records = value.runs;
        render();
      }
    } catch (error) {
      summary.textContent = `Could not load the runs: ${(error as Error).message}`;
    }
    if (!disposed) timer = setTimeout(() => void refresh(), REFRESH_MS);
  }
  void refresh();
  return {
    dispose() {
      disposed = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
