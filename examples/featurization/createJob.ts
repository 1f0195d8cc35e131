import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CategoricalFeaturizer,
  CsvSource,
  FamilyFeaturizer,
  FeaturizationJob,
  NumericFeaturizer,
  SummaryDestination,
} from './src/index.js';

export const exampleDir = path.dirname(fileURLToPath(import.meta.url));
export const sourceRoot = path.join(exampleDir, 'src');

/** The example job, configured as a data scientist would: a source, featurizers, a destination. */
export function createFeaturizationJob(): FeaturizationJob {
  return new FeaturizationJob(
    'titanic-featurization',
    CsvSource.fromFile('passengers.csv', path.join(exampleDir, 'data', 'passengers.csv')),
    {
      passengers: new NumericFeaturizer(['Pclass', 'Age', 'Fare']),
      sex: new CategoricalFeaturizer('Sex'),
      embarked: new CategoricalFeaturizer('Embarked'),
      family: new FamilyFeaturizer(),
    },
    new SummaryDestination(),
  );
}
