export { FeaturizationJob } from './featurizationJob.js';
export { CsvSource } from './sources/csvSource.js';
export { DataSource } from './sources/dataSource.js';
export { Featurizer } from './featurizers/featurizer.js';
export { NumericFeaturizer } from './featurizers/numericFeaturizer.js';
export { CategoricalFeaturizer } from './featurizers/categoricalFeaturizer.js';
export { FamilyFeaturizer } from './featurizers/familyFeaturizer.js';
export { SummaryDestination } from './destinations/summaryDestination.js';
