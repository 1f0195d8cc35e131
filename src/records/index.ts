export {
  FINAL_STATUSES,
  isFinal,
  statusOfState,
  type RunRecord,
  type RunStatus,
  type TargetKind,
} from './record.js';
export { RecordStore } from './store.js';
export { AmbiguousRunIdError, RecordStoreError } from './errors.js';
