import type { Row } from '../table.js';
import { Featurizer, numberOrNaN, type Features } from './featurizer.js';

/** Family size aboard (siblings, spouses, parents, children and the passenger) and travelling alone. */
export class FamilyFeaturizer extends Featurizer {
  featurize(row: Row): Features {
    const size = 1 + (numberOrNaN(row.SibSp) || 0) + (numberOrNaN(row.Parch) || 0);
    return { family_size: size, alone: size === 1 ? 1 : 0 };
  }
}
