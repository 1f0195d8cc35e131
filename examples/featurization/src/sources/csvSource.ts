import { readFileSync } from 'node:fs';
import { parseCsv, type Row } from '../table.js';
import { DataSource } from './dataSource.js';

/**
 * A CSV file read when the job is configured and carried inside the job as bytes, so the job reads
 * the same data attached, in a container or on a remote host, with nothing to mount.
 */
export class CsvSource extends DataSource {
  constructor(
    name: string,
    readonly contents: Buffer,
  ) {
    super(name);
  }

  static fromFile(name: string, file: string): CsvSource {
    return new CsvSource(name, readFileSync(file));
  }

  read(): Row[] {
    return parseCsv(this.contents.toString('utf8'));
  }
}
