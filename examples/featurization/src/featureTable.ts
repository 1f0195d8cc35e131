/**
 * The feature table a featurization run returns: its columns, the values row by row in one
 * Float64Array (which travels home as side-car bytes, not JSON) and the checksum the run printed.
 */
export class FeatureTable {
  constructor(
    readonly columns: readonly string[],
    readonly values: Float64Array,
    readonly checksum: string,
  ) {}

  get rows(): number {
    return this.columns.length === 0 ? 0 : this.values.length / this.columns.length;
  }

  /** The value of `column` in row `row` (NaN where the featurizers left none). */
  at(row: number, column: string): number {
    return this.values[row * this.columns.length + this.columns.indexOf(column)] ?? Number.NaN;
  }
}
