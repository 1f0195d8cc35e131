/// <reference lib="dom" />
/**
 * Charts: uPlot (small, fast, canvas) for a metric over steps and a metric against a parameter;
 * a hand-drawn SVG for parallel coordinates, which uPlot does not do. Each chart has a text
 * alternative (its figure's label; the tables beside it hold the numbers).
 */
import uPlot from 'uplot';
import type { MetricPoint } from '../../routines/results/metrics.js';
import { el, svg } from './dom.js';
import { formatNumber } from './table.js';

const WIDTH = 520;
const HEIGHT = 240;

/** A line chart of one metric over its steps; `update` replaces its points. */
export class MetricChart {
  readonly figure: HTMLElement;
  private readonly plot: uPlot;

  constructor(
    readonly name: string,
    points: readonly MetricPoint[],
  ) {
    this.figure = el('figure', { class: 'chart', 'data-metric': name });
    const caption = el('figcaption', {}, name);
    this.figure.append(caption);
    const holder = el('div', { role: 'img' });
    this.figure.append(holder);
    this.plot = new uPlot(
      {
        width: WIDTH,
        height: HEIGHT,
        scales: { x: { time: false } },
        axes: [{ label: 'step' }, { label: name }],
        legend: { show: true },
        series: [
          { label: 'step' },
          { label: name, stroke: '#1f6feb', width: 2, points: { show: true, size: 5 } },
        ],
      },
      [[], []],
      holder,
    );
    this.update(points);
  }

  update(points: readonly MetricPoint[]): void {
    const sorted = [...points].sort((a, b) => a.step - b.step);
    const xs = sorted.map((p) => p.step);
    const ys = sorted.map((p) => p.value);
    this.plot.setData([xs, ys]);
    const count = this.plot.data[0].length;
    this.figure.dataset.points = String(count);
    const last = ys.at(-1);
    this.figure
      .querySelector('[role="img"]')!
      .setAttribute(
        'aria-label',
        `${this.name} over steps: ${count} point${count === 1 ? '' : 's'}${last === undefined ? '' : `, last ${formatNumber(last)}`}`,
      );
  }

  destroy(): void {
    this.plot.destroy();
  }
}

export interface ScatterPoint {
  readonly x: number;
  readonly y: number;
  readonly best: boolean;
}

/** A metric against a parameter, one point per run (the best run drawn larger, in its own series). */
export function scatterChart(
  xLabel: string,
  yLabel: string,
  points: readonly ScatterPoint[],
): { figure: HTMLElement; destroy(): void } {
  const figure = el('figure', { class: 'chart', 'data-points': String(points.length) });
  figure.append(el('figcaption', {}, `${yLabel} against ${xLabel}`));
  const holder = el('div', {
    role: 'img',
    'aria-label': `${yLabel} against ${xLabel}: ${points.length} runs`,
  });
  figure.append(holder);
  const sorted = [...points].sort((a, b) => a.x - b.x);
  const xs = sorted.map((p) => p.x);
  const ys = sorted.map((p) => (p.best ? null : p.y));
  const bests = sorted.map((p) => (p.best ? p.y : null));
  const plot = new uPlot(
    {
      width: WIDTH,
      height: HEIGHT,
      scales: { x: { time: false } },
      axes: [{ label: xLabel }, { label: yLabel }],
      series: [
        { label: xLabel },
        {
          label: 'runs',
          stroke: '#1f6feb',
          paths: () => null,
          points: { show: true, size: 8, fill: '#1f6feb' },
        },
        {
          label: 'best',
          stroke: '#d4a72c',
          paths: () => null,
          points: { show: true, size: 14, fill: '#d4a72c' },
        },
      ],
    },
    [xs, ys, bests],
    holder,
  );
  return { figure, destroy: () => plot.destroy() };
}

export interface Axis {
  readonly name: string;
  /** The value of each run on this axis (a number, or text for categories). */
  readonly values: readonly (number | string | undefined)[];
}

/** Parallel coordinates: an axis per parameter and the metric, a line per run, the best one marked. */
export function parallelCoordinates(
  axes: readonly Axis[],
  bestIndex: number | undefined,
): SVGSVGElement {
  const width = Math.max(480, axes.length * 140);
  const height = 280;
  const top = 44;
  const bottom = height - 30;
  const root = svg('svg', {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: 'img',
    class: 'parallel',
  });
  const runs = axes[0]?.values.length ?? 0;
  root.setAttribute(
    'aria-label',
    `parallel coordinates of ${runs} runs over ${axes.map((a) => a.name).join(', ')}`,
  );
  const scales = axes.map((axis) => scaleOf(axis.values));
  const x = (i: number): number => 60 + (i * (width - 120)) / Math.max(1, axes.length - 1);
  const y = (t: number): number => bottom - t * (bottom - top);
  for (let run = 0; run < runs; run++) {
    const coordinates: string[] = [];
    for (const [i, axis] of axes.entries()) {
      const t = scales[i]!(axis.values[run]);
      if (t !== undefined) coordinates.push(`${x(i)},${y(t)}`);
    }
    const line = svg('polyline', {
      points: coordinates.join(' '),
      class: run === bestIndex ? 'line best' : 'line',
    });
    root.append(line);
  }
  for (const [i, axis] of axes.entries()) {
    root.append(svg('line', { x1: x(i), x2: x(i), y1: top, y2: bottom, class: 'axis' }));
    const label = svg('text', {
      x: x(i),
      y: top - 12,
      'text-anchor': 'middle',
      class: 'axis-label',
    });
    label.textContent = axis.name;
    root.append(label);
    const [low, high] = extremes(axis.values);
    for (const [text, at] of [
      [low, bottom + 16],
      [high, top + 2],
    ] as const) {
      const tick = svg('text', { x: x(i) + 4, y: at, class: 'tick' });
      tick.textContent = text;
      root.append(tick);
    }
  }
  return root;
}

function extremes(values: readonly (number | string | undefined)[]): [string, string] {
  const numbers = values.filter((v): v is number => typeof v === 'number');
  if (numbers.length === values.filter((v) => v !== undefined).length && numbers.length > 0) {
    return [formatNumber(Math.min(...numbers)), formatNumber(Math.max(...numbers))];
  }
  const categories = [...new Set(values.filter((v) => v !== undefined).map(String))].sort();
  return [categories[0] ?? '', categories.at(-1) ?? ''];
}

/** Maps an axis's values to 0..1: numbers linearly, anything else as evenly spaced categories. */
export function scaleOf(
  values: readonly (number | string | undefined)[],
): (v: number | string | undefined) => number | undefined {
  const present = values.filter((v) => v !== undefined);
  if (present.every((v) => typeof v === 'number')) {
    const numbers = present as number[];
    const low = Math.min(...numbers);
    const high = Math.max(...numbers);
    return (v) =>
      typeof v !== 'number' ? undefined : high === low ? 0.5 : (v - low) / (high - low);
  }
  const categories = [...new Set(present.map(String))].sort();
  return (v) => {
    if (v === undefined) return undefined;
    const index = categories.indexOf(String(v));
    return categories.length === 1 ? 0.5 : index / (categories.length - 1);
  };
}
