/**
 * Ferry's serializer: a job's object graph to a JSON-safe document plus side-car bytes, and back (docs/design.md §1, §3, §4).
 */
export { MAX_GRAPH_DEPTH, serialize, type SerializeOptions } from './serialize.js';
export { deserialize, type DeserializeOptions } from './deserialize.js';
export { MAX_DOCUMENT_DEPTH, parseDocumentText } from './parseDocument.js';
export {
  ferrySerialize,
  ferryDeserialize,
  type FerrySerializable,
  type FerryDeserializable,
} from './hooks.js';
export {
  NotSerializableError,
  PayloadFormatError,
  UnknownClassError,
  type NotSerializableCode,
} from './errors.js';
export type {
  ClassReference,
  ClassIdentifier,
  ClassResolver,
  SerializedPayload,
  SerializedDocument,
} from './types.js';
