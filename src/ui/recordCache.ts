/**
 * The project's run records as the UI serves them, kept in memory and re-read only where a file
 * changed: a refresh of 1,000 records costs a `readdir` and 1,000 `stat`s, not 1,000 JSON parses,
 * and the listing's ETag (from every file's name, size and mtime) answers an unchanged refresh with
 * a 304 before anything is serialized. Records are written by renaming a temporary file into the
 * folder (RecordStore.put), which changes the folder's mtime: while it stays the same, the last
 * snapshot is served without looking at the files, and they are looked at anyway every few seconds
 * (a record edited in place).
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { RecordStoreError } from '../records/errors.js';
import { parseRecord } from '../records/parseRecord.js';
import type { RunRecord } from '../records/record.js';

interface Entry {
  readonly stamp: string;
  readonly record: RunRecord;
}

export interface RecordSnapshot {
  readonly records: readonly RunRecord[];
  /** A strong ETag of the listing: changes whenever any record file does. */
  readonly etag: string;
}

/** The longest a snapshot is trusted on the folder's mtime alone. */
const FULL_SCAN_MS = 5000;

export class RecordCache {
  private entries = new Map<string, Entry>();
  private last: { snapshot: RecordSnapshot; folderMtime: number; at: number } | undefined;

  constructor(
    readonly dir: string,
    private readonly onWarning: (message: string) => void,
  ) {}

  /** Every record, oldest first (a sweep's runs by index), re-reading only changed files. */
  async snapshot(): Promise<RecordSnapshot> {
    let folderMtime = -1;
    try {
      folderMtime = (await stat(this.dir)).mtimeMs;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const now = Date.now();
    if (
      this.last !== undefined &&
      this.last.folderMtime === folderMtime &&
      now - this.last.at < FULL_SCAN_MS
    ) {
      return this.last.snapshot;
    }
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => n.endsWith('.json')).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') names = [];
      else throw error;
    }
    const next = new Map<string, Entry>();
    const hash = createHash('sha256');
    await Promise.all(
      names.map(async (name) => {
        const file = path.join(this.dir, name);
        let stamp: string;
        try {
          const info = await stat(file);
          stamp = `${info.size}:${info.mtimeMs}`;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
          throw error;
        }
        const known = this.entries.get(name);
        if (known !== undefined && known.stamp === stamp) {
          next.set(name, known);
          return;
        }
        try {
          next.set(name, { stamp, record: parseRecord(await readFile(file, 'utf8'), file) });
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
          if (!(error instanceof RecordStoreError)) throw error;
          if (known?.stamp !== stamp) this.onWarning(`${error.message}; skipped`);
        }
      }),
    );
    for (const name of names) {
      const entry = next.get(name);
      if (entry !== undefined) hash.update(`${name}\0${entry.stamp}\n`);
    }
    this.entries = next;
    const records = [...next.values()].map((e) => e.record).sort(byCreation);
    const snapshot = { records, etag: `"${hash.digest('base64url').slice(0, 27)}"` };
    this.last = { snapshot, folderMtime, at: now };
    return snapshot;
  }
}

function byCreation(a: RunRecord, b: RunRecord): number {
  return (
    a.createdAt.localeCompare(b.createdAt) ||
    (a.sweepIndex ?? 0) - (b.sweepIndex ?? 0) ||
    a.id.localeCompare(b.id)
  );
}
