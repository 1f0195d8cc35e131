import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Host keys and OpenSSH `known_hosts` files: parsing, hashed (`|1|salt|hash`) host names, wildcard
 * and negated patterns, `[host]:port` entries, `@revoked` markers, and SHA-256 fingerprints. Pure
 * functions; reading the file is the caller's business.
 */

/** One usable line of a known_hosts file. */
export interface KnownHostEntry {
  /** 1-based line number in the file. */
  readonly line: number;
  readonly marker: 'revoked' | 'cert-authority' | undefined;
  /** The host field as written: comma-separated patterns, or one `|1|salt|hash`. */
  readonly hosts: string;
  /** e.g. `ssh-ed25519`. */
  readonly keyType: string;
  /** The public key blob (SSH wire format), decoded from base64. */
  readonly key: Buffer;
}

/** Parses a known_hosts file's text; comments, blank and malformed lines are skipped. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index += 1) {
    const fields = (lines[index] ?? '').trim().split(/\s+/);
    if (fields[0] === undefined || fields[0] === '' || fields[0].startsWith('#')) continue;
    let marker: KnownHostEntry['marker'];
    if (fields[0].startsWith('@')) {
      const name = fields.shift();
      if (name === '@revoked') marker = 'revoked';
      else if (name === '@cert-authority') marker = 'cert-authority';
      else continue;
    }
    const [hosts, keyType, base64] = fields;
    if (hosts === undefined || keyType === undefined || base64 === undefined) continue;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) continue;
    const key = Buffer.from(base64, 'base64');
    // The blob starts with its own key type; a line whose two disagree is corrupt.
    if (keyTypeOf(key) !== keyType) continue;
    entries.push({ line: index + 1, marker, hosts, keyType, key });
  }
  return entries;
}

/** The name a host is looked up by in known_hosts: `host` on port 22, else `[host]:port`. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Whether an entry's host field names `host:port` (hashed names and patterns, as OpenSSH reads them). */
export function entryMatchesHost(hosts: string, host: string, port: number): boolean {
  const name = knownHostsName(host, port).toLowerCase();
  if (hosts.startsWith('|1|')) return hashedNameMatches(hosts, name);
  let matched = false;
  for (const raw of hosts.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (pattern === '' || !wildcardMatch(pattern, name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

/** `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`, as `ssh-keygen -H` writes it. */
export function hashedNameMatches(field: string, name: string): boolean {
  const parts = field.split('|');
  if (parts.length !== 4 || parts[1] !== '1' || parts[2] === undefined || parts[3] === undefined)
    return false;
  const salt = Buffer.from(parts[2], 'base64');
  const expected = Buffer.from(parts[3], 'base64');
  const actual = createHmac('sha1', salt).update(name).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** A hashed host field for `name` (what `ssh-keygen -H` writes); `salt` is 20 random bytes by default. */
export function hashKnownHostsName(name: string, salt: Buffer): string {
  const hash = createHmac('sha1', salt).update(name).digest();
  return `|1|${salt.toString('base64')}|${hash.toString('base64')}`;
}

function wildcardMatch(pattern: string, text: string): boolean {
  if (!/[*?]/.test(pattern)) return pattern === text;
  const source = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`).test(text);
}

export type HostKeyVerdict =
  /** The offered key is listed for this host. */
  | { readonly kind: 'known'; readonly entry: KnownHostEntry }
  /** The offered key is listed as `@revoked`. */
  | { readonly kind: 'revoked'; readonly entry: KnownHostEntry }
  /** The host is listed with another key of the same type: the host key CHANGED. */
  | { readonly kind: 'changed'; readonly entries: readonly KnownHostEntry[] }
  /** The host is not listed with a key of this type (`otherTypes`: types it is listed with). */
  | { readonly kind: 'unknown'; readonly otherTypes: readonly string[] };

/** Checks an offered host key against known_hosts entries, as OpenSSH's StrictHostKeyChecking=yes does. */
export function checkKnownHost(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
  offered: Buffer,
): HostKeyVerdict {
  const revoked = entries.find((e) => e.marker === 'revoked' && e.key.equals(offered));
  if (revoked !== undefined) return { kind: 'revoked', entry: revoked };
  const forHost = entries.filter(
    (e) => e.marker === undefined && entryMatchesHost(e.hosts, host, port),
  );
  const known = forHost.find((e) => e.key.equals(offered));
  if (known !== undefined) return { kind: 'known', entry: known };
  const type = keyTypeOf(offered);
  const sameType = forHost.filter((e) => e.keyType === type);
  if (sameType.length > 0) return { kind: 'changed', entries: sameType };
  return { kind: 'unknown', otherTypes: [...new Set(forHost.map((e) => e.keyType))] };
}

/** The key types known_hosts lists for a host, in file order (to prefer them in the key exchange). */
export function knownKeyTypes(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
): string[] {
  return [
    ...new Set(
      entries
        .filter((e) => e.marker === undefined && entryMatchesHost(e.hosts, host, port))
        .map((e) => e.keyType),
    ),
  ];
}

/** `SHA256:<base64 without padding>`, as `ssh-keygen -lf` prints it. */
export function fingerprintOf(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Normalizes a pinned fingerprint: `SHA256:…` with or without base64 padding, or the bare base64.
 * Returns undefined for anything else (an MD5 `aa:bb:…` fingerprint is not accepted: too weak).
 */
export function normalizeFingerprint(fingerprint: string): string | undefined {
  const match = /^(?:SHA256:)?([A-Za-z0-9+/]{43})=?$/.exec(fingerprint.trim());
  return match === null ? undefined : `SHA256:${match[1]}`;
}

/** The key type a public key blob names (its first SSH string), or `unknown`. */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return 'unknown';
  const length = key.readUInt32BE(0);
  if (length === 0 || length > 64 || key.length < 4 + length) return 'unknown';
  return key.subarray(4, 4 + length).toString('latin1');
}

/** The known_hosts line that pins `key` for `host:port`. */
export function knownHostsLine(host: string, port: number, key: Buffer): string {
  return `${knownHostsName(host, port)} ${keyTypeOf(key)} ${key.toString('base64')}`;
}

/** The host key algorithms that use a key of the given type, to offer first in the key exchange. */
export function algorithmsForKeyType(keyType: string): string[] {
  if (keyType === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  // Only the types ssh2 can verify; others (sk-*, ssh-dss) are left to its defaults.
  return [
    'ssh-ed25519',
    'ecdsa-sha2-nistp256',
    'ecdsa-sha2-nistp384',
    'ecdsa-sha2-nistp521',
  ].includes(keyType)
    ? [keyType]
    : [];
}
