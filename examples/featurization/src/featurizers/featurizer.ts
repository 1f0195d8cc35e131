import type { Row } from '../table.js';

export type Features = Record<string, number>;

/**
 * Turns rows into numeric features (Training Grounds' DataframeFeaturizer): `fit` learns from the
 * data (medians, vocabularies), `featurize` applies what was learned to one row.
 */
export abstract class Featurizer {
  fit(_rows: readonly Row[]): void {}

  abstract featurize(row: Row): Features;
}

export function numberOrNaN(cell: string | number | undefined): number {
  if (typeof cell === 'number') return cell;
  return cell === undefined || cell.trim() === '' ? Number.NaN : Number(cell);
}
