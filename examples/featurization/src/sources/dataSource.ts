import type { Row } from '../table.js';

/** Where a featurization job reads its rows from (Training Grounds' DataSource). */
export abstract class DataSource {
  constructor(readonly name: string) {}

  abstract read(): Row[];
}
