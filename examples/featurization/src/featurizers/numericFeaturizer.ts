import type { Row } from '../table.js';
import { Featurizer, numberOrNaN, type Features } from './featurizer.js';

/** Copies numeric columns, filling missing cells with the column's median learned in `fit`. */
export class NumericFeaturizer extends Featurizer {
  readonly medians = new Map<string, number>();

  constructor(readonly columns: readonly string[]) {
    super();
  }

  override fit(rows: readonly Row[]): void {
    for (const column of this.columns) {
      const values = rows
        .map((row) => numberOrNaN(row[column]))
        .filter((v) => !Number.isNaN(v))
        .sort((a, b) => a - b);
      const middle = Math.floor(values.length / 2);
      const median =
        values.length === 0
          ? 0
          : values.length % 2 === 1
            ? (values[middle] ?? 0)
            : ((values[middle - 1] ?? 0) + (values[middle] ?? 0)) / 2;
      this.medians.set(column, median);
    }
  }

  featurize(row: Row): Features {
    return Object.fromEntries(
      this.columns.map((column) => {
        const value = numberOrNaN(row[column]);
        return [
          column.toLowerCase(),
          Number.isNaN(value) ? (this.medians.get(column) ?? 0) : value,
        ];
      }),
    );
  }
}
