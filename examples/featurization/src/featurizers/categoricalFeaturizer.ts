import type { Row } from '../table.js';
import { Featurizer, type Features } from './featurizer.js';

/** One-hot encodes a column over the values seen in `fit` (plus `other` for unseen or empty ones). */
export class CategoricalFeaturizer extends Featurizer {
  vocabulary: string[] = [];

  constructor(readonly column: string) {
    super();
  }

  override fit(rows: readonly Row[]): void {
    const seen = new Set(rows.map((row) => String(row[this.column] ?? '')).filter((v) => v !== ''));
    this.vocabulary = [...seen].sort();
  }

  featurize(row: Row): Features {
    const value = String(row[this.column] ?? '');
    const prefix = this.column.toLowerCase();
    const features: Features = Object.fromEntries(
      this.vocabulary.map((v) => [`${prefix}_${v.toLowerCase()}`, value === v ? 1 : 0]),
    );
    features[`${prefix}_other`] = this.vocabulary.includes(value) ? 0 : 1;
    return features;
  }
}
