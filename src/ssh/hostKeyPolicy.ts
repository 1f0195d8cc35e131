import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { HostKeyMismatchError, SshError, UnknownHostKeyError } from './errors.js';
import {
  algorithmsForKeyType,
  checkKnownHost,
  fingerprintOf,
  keyTypeOf,
  knownHostsLine,
  knownKeyTypes,
  normalizeFingerprint,
  parseKnownHosts,
  type KnownHostEntry,
} from './hostKeys.js';
import type { PresentedHostKey } from './options.js';

/**
 * Which host keys one hop trusts: pinned fingerprints, a known_hosts file, or (loudly) any. Loading
 * the policy reads the file; checking a key against it is pure.
 */
export type HostKeyPolicy =
  | { readonly kind: 'pinned'; readonly fingerprints: readonly string[] }
  | {
      readonly kind: 'known-hosts';
      readonly path: string;
      readonly entries: readonly KnownHostEntry[];
    }
  | { readonly kind: 'skip' };

export type HostKeyOutcome =
  | { readonly ok: true; readonly key: PresentedHostKey }
  | { readonly ok: false; readonly error: SshError };

export interface HostKeySettings {
  readonly knownHostsPath?: string;
  readonly hostKeyFingerprint?: string | readonly string[];
  readonly hostKeyCheck?: 'strict' | 'skip';
}

export async function loadHostKeyPolicy(
  settings: HostKeySettings,
  host: string,
  port: number,
): Promise<HostKeyPolicy> {
  if (settings.hostKeyCheck === 'skip') return { kind: 'skip' };
  if (settings.hostKeyCheck !== undefined && settings.hostKeyCheck !== 'strict') {
    throw new SshError(
      `hostKeyCheck must be 'strict' or 'skip', not ${JSON.stringify(settings.hostKeyCheck)}`,
    );
  }
  if (settings.hostKeyFingerprint !== undefined) {
    const given =
      typeof settings.hostKeyFingerprint === 'string'
        ? [settings.hostKeyFingerprint]
        : settings.hostKeyFingerprint;
    const fingerprints = given.map((f) => {
      const normalized = normalizeFingerprint(f);
      if (normalized === undefined) {
        throw new SshError(
          `hostKeyFingerprint ${JSON.stringify(f)} is not a SHA-256 fingerprint; expected SHA256:<43 base64 characters>, as ssh-keygen -lf prints it`,
        );
      }
      return normalized;
    });
    if (fingerprints.length === 0)
      throw new SshError(`hostKeyFingerprint for ${host}:${port} is an empty list`);
    return { kind: 'pinned', fingerprints };
  }
  const file = settings.knownHostsPath ?? path.join(os.homedir(), '.ssh', 'known_hosts');
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new SshError(`cannot read known_hosts file ${file}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  return { kind: 'known-hosts', path: file, entries: parseKnownHosts(text) };
}

/**
 * The host key algorithms to offer first: those of the key types known_hosts lists for the host,
 * as OpenSSH does, so a host with several keys presents the one that is pinned.
 */
export function preferredHostKeyAlgorithms(
  policy: HostKeyPolicy,
  host: string,
  port: number,
): string[] {
  if (policy.kind !== 'known-hosts') return [];
  return knownKeyTypes(policy.entries, host, port).flatMap(algorithmsForKeyType);
}

export function verifyHostKey(
  policy: HostKeyPolicy,
  host: string,
  port: number,
  key: Buffer,
): HostKeyOutcome {
  const fingerprint = fingerprintOf(key);
  const type = keyTypeOf(key);
  if (policy.kind === 'skip')
    return { ok: true, key: { type, fingerprint, trustedBy: 'not checked' } };
  if (policy.kind === 'pinned') {
    if (policy.fingerprints.includes(fingerprint)) {
      return { ok: true, key: { type, fingerprint, trustedBy: 'hostKeyFingerprint' } };
    }
    return {
      ok: false,
      error: new HostKeyMismatchError(
        host,
        port,
        fingerprint,
        policy.fingerprints,
        'hostKeyFingerprint',
      ),
    };
  }
  const verdict = checkKnownHost(policy.entries, host, port, key);
  switch (verdict.kind) {
    case 'known':
      return {
        ok: true,
        key: { type, fingerprint, trustedBy: `known_hosts ${policy.path}:${verdict.entry.line}` },
      };
    case 'revoked':
      return {
        ok: false,
        error: new HostKeyMismatchError(
          host,
          port,
          fingerprint,
          [],
          `${policy.path}:${verdict.entry.line}`,
          true,
        ),
      };
    case 'changed':
      return {
        ok: false,
        error: new HostKeyMismatchError(
          host,
          port,
          fingerprint,
          verdict.entries.map((e) => fingerprintOf(e.key)),
          `${policy.path}:${verdict.entries.map((e) => e.line).join(',')}`,
        ),
      };
    case 'unknown':
      return {
        ok: false,
        error: new UnknownHostKeyError(
          host,
          port,
          fingerprint,
          knownHostsLine(host, port, key),
          policy.path,
          verdict.otherTypes,
        ),
      };
  }
}
