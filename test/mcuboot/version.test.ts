import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RseError } from '../../src/lib/errors.ts';
import { compareVersions, formatVersion, parseVersion } from '../../src/mcuboot/version.ts';

describe('versions', () => {
  it("parses imgtool's syntax with later parts optional", () => {
    assert.equal(formatVersion(parseVersion('1')), '1.0.0+0');
    assert.equal(formatVersion(parseVersion('1.2.3+4')), '1.2.3+4');
    assert.equal(formatVersion(parseVersion('255.255.65535+4294967295')), '255.255.65535+4294967295');
  });
  it('rejects leading zeros, suffixes and overflow with E_ARGUMENT (imgtool crashes on overflow)', () => {
    for (const bad of ['01.0.0', '1.0.0-rc1', '1..2', '', '256.0.0', '1.256', '1.2.65536', '1.2.3+4294967296']) {
      assert.throws(
        () => parseVersion(bad),
        (e: unknown) => e instanceof RseError && e.code === 'E_ARGUMENT',
        bad,
      );
    }
  });
  it('compares like MCUboot (build number only on request)', () => {
    assert.ok(compareVersions(parseVersion('1.2.3+9'), parseVersion('1.2.4')) < 0);
    assert.equal(compareVersions(parseVersion('1.2.3+9'), parseVersion('1.2.3+1')), 0);
    assert.ok(compareVersions(parseVersion('1.2.3+9'), parseVersion('1.2.3+1'), true) > 0);
  });
});
