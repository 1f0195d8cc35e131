import { performance } from 'node:perf_hooks';

/** Runs `fn` once and returns its result with the wall time it took, in milliseconds. */
export async function timed<T>(fn: () => Promise<T> | T): Promise<{ result: T; ms: number }> {
  const start = performance.now();
  const result = await fn();
  return { result, ms: performance.now() - start };
}

export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}

export { formatBytes } from '../src/units.js';

export function ratio(ours: number, theirs: number): string {
  return `${(theirs / ours).toFixed(1)}x`;
}
