import { randomBytes } from 'node:crypto';

/** A sortable, unique run id: `YYYYMMDD-HHMMSS-<6 hex>` (UTC). */
export function newRunId(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}
