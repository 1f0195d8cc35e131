import { describe, expect, it } from 'vitest';
import { DependencyResolutionError } from '../../src/packaging/errors.js';
import { lockClosure, packageNameOf } from '../../src/packaging/dependencies.js';

describe('packageNameOf', () => {
  it('names the package of a bare import and skips builtins', () => {
    expect(packageNameOf('lodash/fp')).toBe('lodash');
    expect(packageNameOf('@scope/pkg/sub/path')).toBe('@scope/pkg');
    expect(packageNameOf('node:fs')).toBeUndefined();
    expect(packageNameOf('path')).toBeUndefined();
  });
});

describe('lockClosure', () => {
  const packages = {
    '': { name: 'project' },
    'node_modules/a': {
      version: '1.0.0',
      integrity: 'sha512-a',
      dependencies: { b: '^2', c: '^1' },
    },
    'node_modules/a/node_modules/b': { version: '2.1.0', dependencies: { d: '*' } },
    'node_modules/b': { version: '3.0.0', dev: true },
    'node_modules/c': {
      version: '1.2.0',
      dev: true,
      optionalDependencies: { 'c-darwin': '1.2.0' },
      peerDependencies: { e: '*', f: '*' },
      peerDependenciesMeta: { f: { optional: true } },
    },
    'node_modules/d': { version: '4.0.0' },
    'node_modules/e': { version: '5.0.0' },
    'node_modules/unrelated': { version: '9.9.9' },
  };

  it('follows dependencies the way Node resolves them, nearest node_modules first', () => {
    const locked = lockClosure(packages, ['a']);
    expect(Object.keys(locked)).toEqual([
      'node_modules/a',
      'node_modules/a/node_modules/b',
      'node_modules/c',
      'node_modules/d',
      'node_modules/e',
    ]);
    expect(locked['node_modules/a/node_modules/b']?.version).toBe('2.1.0');
    expect(locked['node_modules/a']?.integrity).toBe('sha512-a');
    // `dev` describes the user's tree; in the job's tree every package is needed at run time.
    expect(locked['node_modules/c']).not.toHaveProperty('dev');
  });

  it('skips optional packages the lockfile left out, and names a required one that is missing', () => {
    expect(() => lockClosure(packages, ['c'])).not.toThrow();
    const broken = {
      ...packages,
      'node_modules/a/node_modules/b': { version: '2.1.0', dependencies: { zz: '1' } },
    };
    expect(() => lockClosure(broken, ['a'])).toThrow(DependencyResolutionError);
    expect(() => lockClosure(broken, ['a'])).toThrow(
      /no entry for 'zz' \(needed by node_modules\/a\/node_modules\/b\)/,
    );
  });

  it('refuses a linked (workspace) package', () => {
    const linked = { 'node_modules/a': { link: true, resolved: 'packages/a' } };
    expect(() => lockClosure(linked, ['a'])).toThrow(/linked or workspace package/);
  });
});
