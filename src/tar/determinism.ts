/**
 * The one rule every tar Ferry writes follows, so the same entries always give the same bytes (and
 * so the same Docker layers and registry blobs): entries in byte order of their paths (a caller may
 * name one entry to lead, such as a package's manifest), one fixed modification time, owner root
 * (uid/gid 0), and a mode chosen by the entry's kind alone, never copied from the disk.
 */

/** 1980-01-01T00:00:00Z in seconds: the epoch reproducible builds use (a zero mtime confuses some tools). */
export const FIXED_MTIME = 315532800;
export const FIXED_MTIME_DATE = new Date(FIXED_MTIME * 1000);

export const FILE_MODE = 0o644;
export const EXECUTABLE_MODE = 0o755;
export const DIRECTORY_MODE = 0o755;
export const SYMLINK_MODE = 0o777;

export const OWNER = { uid: 0, gid: 0, uname: 'root', gname: 'root' } as const;

/** Byte order of UTF-8 paths: what `sort` gives under `LC_ALL=C`, independent of the locale. */
export function comparePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The entries in the rule's order: `leading` (when present) first, then the rest by path. */
export function inArchiveOrder<Entry extends { readonly path: string }>(
  entries: Iterable<Entry>,
  leading?: string,
): Entry[] {
  return [...entries].sort((a, b) => {
    if (a.path === leading) return b.path === leading ? 0 : -1;
    if (b.path === leading) return 1;
    return comparePaths(a.path, b.path);
  });
}
