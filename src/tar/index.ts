/** Every tar Ferry writes or reads goes through this module (see `determinism.ts` for the rule). */
export * from './determinism.js';
export * from './errors.js';
export {
  BLOCK_SIZE,
  decodeHeader,
  isEndBlock,
  parsePaxRecords,
  type DecodedHeader,
} from './headers.js';
export { isIncompressible, storedGzipMember } from './gzipMembers.js';
export {
  readTar,
  type TarEntryInfo,
  type TarEntryKind,
  type TarReadLimits,
  type TarReadOptions,
  type TarVisitResult,
} from './read.js';
export {
  tarBufferOf,
  tarStreamOf,
  writeTarGz,
  type TarDirectory,
  type TarEntry,
  type TarFile,
  type TarGzOptions,
  type TarSymlink,
  type TarWriteOptions,
} from './write.js';
