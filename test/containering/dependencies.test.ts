import { access, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contextDigest, normalizeEntries } from '../../src/containering/contextTar.js';
import { dependenciesKey, ensureDependencies } from '../../src/containering/dependencies.js';
import { DependencyInstallError } from '../../src/containering/errors.js';
import { lockClosure } from '../../src/packaging/dependencies.js';

// Installs real packages with the host's npm (the registry is reachable from the host, not from containers).
let cacheDir: string;
beforeAll(async () => {
  cacheDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-deps-test-'));
});
afterAll(async () => {
  await rm(cacheDir, { recursive: true, force: true });
});

const semver = { semver: { range: '^7.8.0', version: '7.8.6' } };

describe('ensureDependencies', () => {
  it('has nothing to install for no dependencies', async () => {
    expect(await ensureDependencies({}, {}, { cacheDir })).toBeUndefined();
  });

  it('keys the cache by exact versions, not ranges or order', () => {
    expect(
      dependenciesKey({
        a: { range: '^1', version: '1.0.0' },
        b: { range: '2', version: '2.0.0' },
      }),
    ).toBe(
      dependenciesKey({
        b: { range: '~2', version: '2.0.0' },
        a: { range: '1.x', version: '1.0.0' },
      }),
    );
    expect(dependenciesKey({ a: { range: '^1', version: '1.0.0' } })).not.toBe(
      dependenciesKey({ a: { range: '^1', version: '1.0.1' } }),
    );
  });

  it('installs exact versions once, concurrently safe, and reuses the install', async () => {
    const [first, second] = await Promise.all([
      ensureDependencies(semver, {}, { cacheDir }),
      ensureDependencies(semver, {}, { cacheDir }),
    ]);
    expect(first?.dir).toBe(second?.dir);
    expect(first?.dir).toBe(path.join(cacheDir, 'deps', dependenciesKey(semver)));
    const paths = first?.entries.map((e) => e.path) ?? [];
    expect(paths).toContain('node_modules/semver/package.json');
    expect(paths.every((p) => p === 'node_modules' || p.startsWith('node_modules/'))).toBe(true);
    await access(path.join(first?.dir ?? '', 'node_modules', 'semver', 'package.json'));
    // No half-finished install folders are left behind.
    expect((await readdir(path.join(cacheDir, 'deps'))).filter((n) => n.startsWith('.'))).toEqual(
      [],
    );

    const again = await ensureDependencies(semver, {}, { cacheDir });
    expect(again?.reused).toBe(true);
    expect(contextDigest(normalizeEntries(again?.entries ?? []))).toBe(
      contextDigest(normalizeEntries(first?.entries ?? [])),
    );
  });

  it('installs every transitive package at the version the project locked (npm ci)', async () => {
    const repoRoot = path.resolve(import.meta.dirname, '../..');
    const lock = JSON.parse(await readFile(path.join(repoRoot, 'package-lock.json'), 'utf8'));
    const locked = lockClosure(lock.packages, ['handlebars']);
    // handlebars needs neo-async, source-map, minimist and wordwrap; they are pinned too.
    expect(Object.keys(locked)).toEqual(
      expect.arrayContaining(['node_modules/handlebars', 'node_modules/neo-async']),
    );
    const handlebars = {
      handlebars: { range: '^4', version: locked['node_modules/handlebars']!.version },
    };
    const installed = await ensureDependencies(handlebars, locked, { cacheDir });
    for (const [at, entry] of Object.entries(locked)) {
      if (entry.optional) continue;
      const manifest = JSON.parse(
        await readFile(path.join(installed!.dir, ...at.split('/'), 'package.json'), 'utf8'),
      );
      expect(manifest.version, at).toBe(entry.version);
    }
    // The same direct versions with a different locked tree are another install.
    expect(dependenciesKey(handlebars, locked)).not.toBe(dependenciesKey(handlebars));
  });

  it('says what npm printed when a version does not exist', async () => {
    const missing = { semver: { range: '*', version: '0.0.0-does-not-exist' } };
    const failure = ensureDependencies(missing, {}, { cacheDir });
    await expect(failure).rejects.toBeInstanceOf(DependencyInstallError);
    await expect(ensureDependencies(missing, {}, { cacheDir })).rejects.toThrow(/semver/);
    expect((await readdir(path.join(cacheDir, 'deps'))).filter((n) => n.startsWith('.'))).toEqual(
      [],
    );
  });
});
