import { InputError } from '../errors.js';

/** An archive is not a well-formed tar (or gzip) stream: truncated, corrupt, or not an archive at all. */
export class TarFormatError extends InputError {}

/** An archive goes past a bound its reader set: too many entries, too many bytes, an entry too large. */
export class TarLimitError extends InputError {}

/** An entry given to the writer cannot be written: an unsafe path, a size that does not match its file. */
export class TarEntryError extends InputError {}
