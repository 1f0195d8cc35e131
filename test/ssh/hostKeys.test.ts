/**
 * known_hosts parsing and host key checks: pure logic, cross-checked against OpenSSH's own
 * ssh-keygen (hashed names, fingerprints) where it is installed.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkKnownHost,
  entryMatchesHost,
  fingerprintOf,
  hashKnownHostsName,
  keyTypeOf,
  knownHostsLine,
  knownKeyTypes,
  normalizeFingerprint,
  parseKnownHosts,
} from '../../src/ssh/hostKeys.js';

/** A syntactically valid ssh-ed25519 public key blob with the given 32 key bytes. */
function ed25519Blob(seed: number): Buffer {
  const type = Buffer.from('ssh-ed25519');
  const key = Buffer.alloc(32, seed);
  const blob = Buffer.alloc(4 + type.length + 4 + key.length);
  blob.writeUInt32BE(type.length, 0);
  type.copy(blob, 4);
  blob.writeUInt32BE(key.length, 4 + type.length);
  key.copy(blob, 8 + type.length);
  return blob;
}

function rsaLikeBlob(): Buffer {
  const type = Buffer.from('ssh-rsa');
  const blob = Buffer.alloc(4 + type.length + 8);
  blob.writeUInt32BE(type.length, 0);
  type.copy(blob, 4);
  return blob;
}

const KEY_A = ed25519Blob(1);
const KEY_B = ed25519Blob(2);
const b64 = (key: Buffer): string => key.toString('base64');

describe('parseKnownHosts', () => {
  it('reads plain, hashed, marked and bracketed lines, skipping comments and garbage', () => {
    const text = [
      '# a comment',
      '',
      `gpu-box,10.0.0.5 ssh-ed25519 ${b64(KEY_A)} a comment here`,
      `[gpu-box]:2222 ssh-ed25519 ${b64(KEY_B)}`,
      `@revoked old-box ssh-ed25519 ${b64(KEY_B)}`,
      `@cert-authority *.example.com ssh-ed25519 ${b64(KEY_A)}`,
      `@unknown-marker x ssh-ed25519 ${b64(KEY_A)}`,
      'broken-line-without-key',
      `mismatched ssh-rsa ${b64(KEY_A)}`,
      `bad-base64 ssh-ed25519 !!!`,
    ].join('\n');
    const entries = parseKnownHosts(text);
    expect(entries.map((e) => [e.line, e.marker, e.hosts])).toEqual([
      [3, undefined, 'gpu-box,10.0.0.5'],
      [4, undefined, '[gpu-box]:2222'],
      [5, 'revoked', 'old-box'],
      [6, 'cert-authority', '*.example.com'],
    ]);
    expect(entries[0]!.key.equals(KEY_A)).toBe(true);
    expect(entries[0]!.keyType).toBe('ssh-ed25519');
  });
});

describe('entryMatchesHost', () => {
  it('matches port 22 by bare name and other ports by [host]:port only', () => {
    expect(entryMatchesHost('gpu-box', 'gpu-box', 22)).toBe(true);
    expect(entryMatchesHost('gpu-box', 'gpu-box', 2222)).toBe(false);
    expect(entryMatchesHost('[gpu-box]:2222', 'gpu-box', 2222)).toBe(true);
    expect(entryMatchesHost('[gpu-box]:2222', 'gpu-box', 22)).toBe(false);
  });

  it('handles lists, wildcards, negation and case', () => {
    expect(entryMatchesHost('a,GPU-BOX,b', 'gpu-box', 22)).toBe(true);
    expect(entryMatchesHost('*.example.com', 'gpu.example.com', 22)).toBe(true);
    expect(entryMatchesHost('gpu-?.example.com', 'gpu-7.example.com', 22)).toBe(true);
    expect(entryMatchesHost('*.example.com,!bad.example.com', 'bad.example.com', 22)).toBe(false);
    expect(entryMatchesHost('[*.example.com]:2222', 'gpu.example.com', 2222)).toBe(true);
    expect(entryMatchesHost('10.0.0.*', '10.0.0.5', 22)).toBe(true);
    expect(entryMatchesHost('10.0.0.*', '10.0.1.5', 22)).toBe(false);
  });

  it('matches hashed names written by hashKnownHostsName', () => {
    const salt = randomBytes(20);
    expect(entryMatchesHost(hashKnownHostsName('gpu-box', salt), 'gpu-box', 22)).toBe(true);
    expect(entryMatchesHost(hashKnownHostsName('[gpu-box]:2222', salt), 'gpu-box', 2222)).toBe(
      true,
    );
    expect(entryMatchesHost(hashKnownHostsName('gpu-box', salt), 'gpu-box', 2222)).toBe(false);
    expect(entryMatchesHost(hashKnownHostsName('other', salt), 'gpu-box', 22)).toBe(false);
    expect(entryMatchesHost('|1|garbage', 'gpu-box', 22)).toBe(false);
  });
});

describe('checkKnownHost', () => {
  const entries = parseKnownHosts(
    [
      `gpu-box ssh-ed25519 ${b64(KEY_A)}`,
      `[gpu-box]:2222 ssh-rsa ${b64(rsaLikeBlob())}`,
      `@revoked * ssh-ed25519 ${b64(ed25519Blob(9))}`,
    ].join('\n'),
  );

  it('knows a listed key', () => {
    const verdict = checkKnownHost(entries, 'gpu-box', 22, KEY_A);
    expect(verdict.kind).toBe('known');
  });

  it('calls another key of the same type a change', () => {
    const verdict = checkKnownHost(entries, 'gpu-box', 22, KEY_B);
    expect(verdict.kind).toBe('changed');
    if (verdict.kind === 'changed') expect(verdict.entries[0]!.line).toBe(1);
  });

  it('calls a key of a type not listed for the host unknown, naming the types that are', () => {
    const verdict = checkKnownHost(entries, 'gpu-box', 2222, KEY_A);
    expect(verdict).toEqual({ kind: 'unknown', otherTypes: ['ssh-rsa'] });
    expect(checkKnownHost(entries, 'elsewhere', 22, KEY_A)).toEqual({
      kind: 'unknown',
      otherTypes: [],
    });
  });

  it('refuses a revoked key even when also listed', () => {
    const revoked = ed25519Blob(9);
    const withRevoked = parseKnownHosts(
      `gpu-box ssh-ed25519 ${b64(revoked)}\n@revoked * ssh-ed25519 ${b64(revoked)}`,
    );
    expect(checkKnownHost(withRevoked, 'gpu-box', 22, revoked).kind).toBe('revoked');
  });

  it('lists the key types known for a host, to prefer them in the key exchange', () => {
    expect(knownKeyTypes(entries, 'gpu-box', 2222)).toEqual(['ssh-rsa']);
    expect(knownKeyTypes(entries, 'gpu-box', 22)).toEqual(['ssh-ed25519']);
  });
});

describe('fingerprints', () => {
  it('normalizes pinned fingerprints and refuses MD5 ones', () => {
    const fp = fingerprintOf(KEY_A);
    expect(fp).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(normalizeFingerprint(fp)).toBe(fp);
    expect(normalizeFingerprint(`${fp}=`)).toBe(fp);
    expect(normalizeFingerprint(fp.slice('SHA256:'.length))).toBe(fp);
    expect(normalizeFingerprint('16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48')).toBeUndefined();
  });

  it('reads the key type from the blob and writes a pinning line', () => {
    expect(keyTypeOf(KEY_A)).toBe('ssh-ed25519');
    expect(keyTypeOf(Buffer.from('xx'))).toBe('unknown');
    expect(knownHostsLine('gpu-box', 2222, KEY_A)).toBe(`[gpu-box]:2222 ssh-ed25519 ${b64(KEY_A)}`);
    expect(knownHostsLine('gpu-box', 22, KEY_A)).toBe(`gpu-box ssh-ed25519 ${b64(KEY_A)}`);
  });
});

describe.skipIf(!existsSync('/usr/bin/ssh-keygen'))('agreement with OpenSSH ssh-keygen', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-hostkeys-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives the fingerprint ssh-keygen -lf prints', () => {
    const keyFile = path.join(dir, 'key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
    const publicLine = readFileSync(`${keyFile}.pub`, 'utf8').trim();
    const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${keyFile}.pub`], {
      encoding: 'utf8',
    }).split(' ')[1];
    expect(fingerprintOf(Buffer.from(publicLine.split(' ')[1]!, 'base64'))).toBe(printed);
  });

  it('matches names hashed by ssh-keygen -H, with and without a port', () => {
    const file = path.join(dir, 'known_hosts');
    writeFileSync(
      file,
      `gpu-box ssh-ed25519 ${b64(KEY_A)}\n[127.0.0.1]:2222 ssh-ed25519 ${b64(KEY_B)}\n`,
    );
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    const entries = parseKnownHosts(readFileSync(file, 'utf8'));
    expect(entries.every((e) => e.hosts.startsWith('|1|'))).toBe(true);
    expect(checkKnownHost(entries, 'gpu-box', 22, KEY_A).kind).toBe('known');
    expect(checkKnownHost(entries, '127.0.0.1', 2222, KEY_B).kind).toBe('known');
    expect(checkKnownHost(entries, '127.0.0.1', 2222, KEY_A).kind).toBe('changed');
    expect(checkKnownHost(entries, '127.0.0.1', 22, KEY_B).kind).toBe('unknown');
  });
});
