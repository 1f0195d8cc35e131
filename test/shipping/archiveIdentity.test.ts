import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ArchiveIdentity } from '../../src/shipping/archiveIdentity.js';
import { ImageShippingError } from '../../src/shipping/errors.js';

const config = Buffer.from('{"architecture":"amd64","rootfs":{"type":"layers","diff_ids":[]}}');
const hex = createHash('sha256').update(config).digest('hex');
const id = `sha256:${hex}`;
const manifest = (configs: string[]): Buffer =>
  Buffer.from(JSON.stringify(configs.map((Config) => ({ Config, RepoTags: ['a:b'], Layers: [] }))));

describe('checking that a save archive is the image asked for', () => {
  it('accepts the legacy and the OCI layout when manifest and config match the id', () => {
    for (const path of [`${hex}.json`, `blobs/sha256/${hex}`]) {
      const identity = new ArchiveIdentity(id, 'a:b');
      expect(identity.wants(path, config.length)).toBe(true);
      identity.see(path, config);
      expect(identity.verified).toBe(false);
      identity.see('manifest.json', manifest([path]));
      expect(identity.verified).toBe(true);
    }
  });

  it('refuses a config whose bytes do not hash to the id, naming the image', () => {
    const identity = new ArchiveIdentity(id, 'a:b');
    expect(() => identity.see(`${hex}.json`, Buffer.from('{}'))).toThrow(ImageShippingError);
    expect(identity.error?.message).toMatch(/a:b.*moved the tag/);
    expect(identity.verified).toBe(false);
  });

  it('refuses a manifest naming another image, or several', () => {
    const other = new ArchiveIdentity(id, 'a:b');
    expect(() => other.see('manifest.json', manifest([`${'0'.repeat(64)}.json`]))).toThrow(
      ImageShippingError,
    );
    const several = new ArchiveIdentity(id, 'a:b');
    expect(() => several.see('manifest.json', manifest([`${hex}.json`, `${hex}.json`]))).toThrow(
      ImageShippingError,
    );
    const garbage = new ArchiveIdentity(id, 'a:b');
    expect(() => garbage.see('manifest.json', Buffer.from('not json'))).toThrow(ImageShippingError);
  });

  it('is not verified until both were seen, and wants only small entries', () => {
    const identity = new ArchiveIdentity(id, 'a:b');
    identity.see('manifest.json', manifest([`${hex}.json`]));
    expect(identity.verified).toBe(false);
    expect(identity.wants(`${hex}.json`, 2 << 20)).toBe(false);
    expect(identity.wants('repositories', 10)).toBe(false);
  });
});
