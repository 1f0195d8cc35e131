import type { Features, Featurizer } from './featurizers/featurizer.js';
import type { DataSource } from './sources/dataSource.js';
import type { SummaryDestination } from './destinations/summaryDestination.js';

/**
 * Training Grounds' featurization job: reads a data source, fits every featurizer on it, joins
 * their features row by row and hands the table to the destination.
 */
export class FeaturizationJob {
  constructor(
    readonly name: string,
    readonly source: DataSource,
    readonly featurizers: Readonly<Record<string, Featurizer>>,
    readonly destination: SummaryDestination,
  ) {}

  run(): string {
    const rows = this.source.read();
    console.log(`${this.name}: read ${rows.length} rows from ${this.source.name}`);
    for (const [name, featurizer] of Object.entries(this.featurizers)) {
      featurizer.fit(rows);
      console.log(`${this.name}: fitted ${name}`);
    }
    const table: Features[] = rows.map((row) =>
      Object.assign({}, ...Object.values(this.featurizers).map((f) => f.featurize(row))),
    );
    return this.destination.write(table);
  }
}
