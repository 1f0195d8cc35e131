import type { Features, Featurizer } from './featurizers/featurizer.js';
import type { DataSource } from './sources/dataSource.js';
import type { SummaryDestination } from './destinations/summaryDestination.js';
import { FeatureTable } from './featureTable.js';

/** What Ferry gives `run()` besides the parameters (a type only: the job needs no Ferry at run time). */
interface RunContextLike {
  logMetric(name: string, value: number): void;
}

/**
 * Training Grounds' featurization job: reads a data source, fits every featurizer on it, joins
 * their features row by row, hands the table to the destination and returns it (the run's result).
 */
export class FeaturizationJob {
  constructor(
    readonly name: string,
    readonly source: DataSource,
    readonly featurizers: Readonly<Record<string, Featurizer>>,
    readonly destination: SummaryDestination,
  ) {}

  run(_parameters?: unknown, context?: RunContextLike): FeatureTable {
    const rows = this.source.read();
    console.log(`${this.name}: read ${rows.length} rows from ${this.source.name}`);
    for (const [name, featurizer] of Object.entries(this.featurizers)) {
      featurizer.fit(rows);
      console.log(`${this.name}: fitted ${name}`);
    }
    const table: Features[] = rows.map((row) =>
      Object.assign({}, ...Object.values(this.featurizers).map((f) => f.featurize(row))),
    );
    const checksum = this.destination.write(table);
    const columns = Object.keys(table[0] ?? {});
    const values = Float64Array.from(
      table.flatMap((row) => columns.map((c) => row[c] ?? Number.NaN)),
    );
    context?.logMetric('rows', table.length);
    context?.logMetric('columns', columns.length);
    return new FeatureTable(columns, values, checksum);
  }
}
