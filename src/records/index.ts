export {
  FINAL_STATUSES,
  isFinal,
  statusOfState,
  type RunRecord,
  type RunStatus,
  type TargetKind,
} from './record.js';
export {
  RECORD_LABELS,
  recordFromContainer,
  recordLabels,
  type RecordLabelFields,
} from './labels.js';
export { AmbiguousRunIdError, RecordStore, RecordStoreError } from './store.js';
