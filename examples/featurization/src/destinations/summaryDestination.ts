import { createHash } from 'node:crypto';
import type { Features } from '../featurizers/featurizer.js';

/** Prints the feature table's shape, the first rows and a checksum, so runs can be compared by eye. */
export class SummaryDestination {
  constructor(readonly previewRows = 3) {}

  write(table: readonly Features[]): string {
    const columns = Object.keys(table[0] ?? {});
    const checksum = createHash('sha256').update(JSON.stringify(table)).digest('hex').slice(0, 16);
    console.log(`features: ${table.length} rows x ${columns.length} columns`);
    console.log(`columns: ${columns.join(', ')}`);
    for (const row of table.slice(0, this.previewRows)) {
      console.log(`  ${columns.map((c) => `${c}=${round(row[c] ?? Number.NaN)}`).join(' ')}`);
    }
    console.log(`checksum: ${checksum}`);
    return checksum;
  }
}

function round(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}
