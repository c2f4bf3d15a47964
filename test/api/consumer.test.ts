/**
 * The package's types as a consumer on TypeScript 5.4 sees them (through `exports`, strict, no
 * skipLibCheck): every subpath resolves and type-checks, so nothing in the emitted declarations
 * needs TypeScript 6 (e.g. a generic `Uint8Array<...>`). Needs the built `dist/` and TypeScript
 * 5.4 (an oracle: CI installs it and sets RSE_TSC_5_4).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers.ts';
import { oracle, oracleSkip } from '../oracles.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SUBPATHS = Object.keys(
  (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown> }).exports,
).filter((k) => k !== './package.json');

const CONSUMER = `
${SUBPATHS.map((k, i) => `import * as m${i} from '${k === '.' ? 'rsekit' : `rsekit/${k.slice(2)}`}';`).join('\n')}
import { generateKey, imageFileParts, parseVersion, signImageFile, verifyImage, type VerifyReport } from 'rsekit/mcuboot';
import { fipBytes, fipEntryUuid, packFip } from 'rsekit/fip';
import { bootDevice, createDevice, type ChainReport } from 'rsekit/boot';
import { MemoryStore, RSE_2_1, type Device } from 'rsekit/device';

const key = generateKey('ecdsa-p256');
const img = signImageFile({ data: new Uint8Array(16) }, { key, version: parseVersion('1.0.0'), headerSize: 0x400, slotSize: 0x10000 });
const bytes: Uint8Array = new Uint8Array(Buffer.concat(imageFileParts(img)));
const report: VerifyReport = verifyImage(bytes, { key });
const fip: Uint8Array = fipBytes(packFip([{ uuid: fipEntryUuid('rse-bl2'), data: bytes }]));
const dev: Device = createDevice(new MemoryStore(), { profile: RSE_2_1 });
const boot: ChainReport = bootDevice(dev);
export const used = [${SUBPATHS.map((_, i) => `m${i}`).join(', ')}, report, fip, boot];
`;

test('a TypeScript 5.4 consumer type-checks against every subpath export', { skip: oracleSkip('tsc-5.4') }, () => {
  const dir = join(tempDir(), 'consumer');
  mkdirSync(join(dir, 'node_modules/@types'), { recursive: true });
  symlinkSync(ROOT, join(dir, 'node_modules/rsekit'));
  symlinkSync(join(ROOT, 'node_modules/@types/node'), join(dir, 'node_modules/@types/node'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, types: ['node'] },
      include: ['index.ts'],
    }),
  );
  writeFileSync(join(dir, 'index.ts'), CONSUMER);
  const tsc = oracle('tsc-5.4') as string;
  const version = spawnSync(process.execPath, [tsc, '--version'], { encoding: 'utf8' }).stdout.trim();
  assert.match(version, /^Version 5\.4\./);
  const r = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, `tsc 5.4 found errors:\n${r.stdout}${r.stderr}`);
});
