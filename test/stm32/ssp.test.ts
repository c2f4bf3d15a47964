/** STM32MP15 Secure Secret Provisioning: the three boots with the virtual HSM, the attack table, typed errors on hostile messages. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { generateKey, randomBytes } from '../../src/crypto/index.ts';
import { isRseError } from '../../src/lib/errors.ts';
import { OTP_WORD } from '../../src/stm32/bsec.ts';
import { createStm32Image, p256PublicXY, pkhOtpWords, publicKeyHash } from '../../src/stm32/image.ts';
import { Mp1Device, romBoot } from '../../src/stm32/mp1.ts';
import {
  decodeCertificate,
  decodeLicense,
  decodePayload,
  LICENSE_SIZE,
  PAYLOAD_SIZE,
  packagePayload,
  RMA_MASK,
  romUnwrap,
  SSP_REQ,
  SSP_SUCCESS,
  SSP_WORD,
} from '../../src/stm32/ssp.ts';
import { type Programmer, SspHsm, sspProvision } from '../../src/stm32/ssp-provision.ts';
import { runCli, tempDir } from '../helpers.ts';

const oem = generateKey('ecdsa-p256');
const KEY = Uint8Array.from({ length: 16 }, (_, i) => i);
const IV = Uint8Array.from({ length: 16 }, (_, i) => 0xf0 | i);
/** RMA password (4 bytes), then 30 bytes of secrets with a zero word in the middle. */
const SECRETS = Uint8Array.from([
  0x78,
  0x56,
  0x34,
  0xf2,
  ...new TextEncoder().encode('oem-key-0001'),
  0,
  0,
  0,
  0,
  ...new TextEncoder().encode('mac-secret-ab'),
]);
const payload = packagePayload({ secrets: SECRETS, oemPublicKey: p256PublicXY(oem), key: KEY, iv: IV });
const fsbl = (o: { key?: typeof oem; version?: number } = {}): Uint8Array =>
  createStm32Image({
    payload: new Uint8Array(1024).fill(0x5a),
    loadAddress: 0x2ffc2500,
    entryPoint: 0x2ffc2500,
    binaryType: 0x10,
    imageVersion: o.version ?? 2,
    ...(o.key === undefined ? {} : { key: o.key }),
  });

const newDevice = (o: { ca?: ReturnType<typeof generateKey> } = {}): Mp1Device => Mp1Device.create(join(tempDir(), 'mp1'), false, o);
const newHsm = (max: number, o: { license?: 'live' | 'normal'; fsblMinVersion?: number } = {}): SspHsm =>
  SspHsm.init(join(tempDir(), 'hsm'), { oemKey: KEY, oemIv: IV, maxLicenses: max, ...o });
const viaHsm =
  (hsm: SspHsm, pay = payload): Programmer =>
  ({ certificate, sessionId }) => ({ license: hsm.issue(certificate, sessionId), payload: pay });

/** Every word SSP may write, beyond the SSP request bit: all still blank. */
function assertNothingProvisioned(dev: Mp1Device, name: string): void {
  const d = Mp1Device.open(dev.dir);
  const b = d.bsec;
  assert.equal(b.closed, false, `${name}: not closed`);
  for (const n of [
    ...Array.from({ length: 8 }, (_, i) => OTP_WORD.PKH + i),
    OTP_WORD.RMA,
    ...Array.from({ length: 37 }, (_, i) => OTP_WORD.OEM_SECRETS + i),
  ]) {
    assert.equal(b.fuse(n), 0, `${name}: OTP ${n} blank`);
    assert.equal(b.isPermanentlyLocked(n), false, `${name}: OTP ${n} unlocked`);
  }
  assert.equal(b.fuse(SSP_WORD) & SSP_SUCCESS, 0, `${name}: no SSP_SUCCESS`);
}

test('SSP end to end: PKH locked, device closed, RMA and secrets programmed and locked in order; the OEM-signed FSBL then boots', () => {
  const dev = newDevice();
  const hsm = newHsm(2);
  const r = sspProvision(dev, fsbl(), viaHsm(hsm));
  assert.equal(r.ok, true, r.halt);
  assert.deepEqual(
    r.steps.map((s) => s.boot),
    [1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3],
  );
  const b = Mp1Device.open(dev.dir).bsec;
  assert.equal(b.closed, true);
  assert.deepEqual(
    Array.from({ length: 8 }, (_, i) => b.fuse(OTP_WORD.PKH + i)),
    pkhOtpWords(publicKeyHash(p256PublicXY(oem))),
  );
  const dv = new DataView(SECRETS.buffer);
  assert.equal(b.fuse(OTP_WORD.RMA), (dv.getUint32(0, true) & RMA_MASK) >>> 0);
  assert.equal(b.fuse(OTP_WORD.RMA) >>> 30, 0, 'the RMA word keeps 30 bits');
  // Words from OTP 59: the secrets after the RMA word, little-endian, the last one zero-padded ('b' alone).
  const padded = new Uint8Array(36);
  padded.set(SECRETS.subarray(4));
  const pv = new DataView(padded.buffer);
  for (let i = 0; i < 9; i++) assert.equal(b.fuse(59 + i), pv.getUint32(4 * i, true), `OTP ${59 + i}`);
  assert.equal(b.fuse(66), 0x62, 'the partial last word is zero-padded');
  assert.equal(b.fuse(62), 0, 'a zero word is skipped');
  assert.equal(b.isPermanentlyLocked(62), false, 'and stays unlocked');
  for (const n of [...r.programmed]) assert.equal(b.isPermanentlyLocked(n) || n === OTP_WORD.CFG0, true, `OTP ${n} locked`);
  assert.equal(b.fuse(SSP_WORD), SSP_REQ | SSP_SUCCESS);
  // Order: PKH before closing, closing before RMA, RMA before the secrets.
  assert.deepEqual(r.programmed.slice(0, 10), [24, 25, 26, 27, 28, 29, 30, 31, OTP_WORD.CFG0, OTP_WORD.RMA]);
  // Non-secure software cannot read them; the OEM's signed FSBL boots, an unsigned one does not.
  const d = Mp1Device.open(dev.dir);
  assert.throws(
    () => d.bsec.read(59, { secure: false }),
    (e) => isRseError(e) && e.code === 'E_ACCESS',
  );
  assert.equal(romBoot(d, fsbl({ key: oem })).authStatus, 2);
  assert.equal(romBoot(d, fsbl()).ok, false);
  assert.equal(hsm.remaining, 1);
  assert.equal(hsm.info().ledger[0]?.productId, '5000200A');
  // SSP never runs again on this chip.
  const again = sspProvision(d, fsbl({ key: oem }), viaHsm(hsm));
  assert.match(again.halt ?? '', /SSP_SUCCESS is set/);
  assert.equal(hsm.remaining, 1, 'no license spent on a refused chip');
});

function flip(b: Uint8Array, offset: number): Uint8Array {
  const c = b.slice();
  c[offset] = (c[offset] as number) ^ 0x01;
  return c;
}

test('attack table (SSP): altered license or payload, another chip, replay, old FSBL, forged certificate, spent HSM; nothing programmed', () => {
  const cases: [string, (dev: Mp1Device) => Programmer, RegExp, Uint8Array?][] = [];
  const hsm = newHsm(100);
  for (const [field, off] of [
    ['license type', 0],
    ['live session id', 4],
    ['version', 8],
    ['fsbl min version', 12],
    ['rfu', 20],
    ['ephemeral key', 30],
    ['wrapped key', 100],
    ['tag', 130],
  ] as const)
    cases.push([
      `altered license: ${field}`,
      () =>
        ({ certificate, sessionId }) => ({ license: flip(hsm.issue(certificate, sessionId), off), payload }),
      /E_LICENSE|E_BAD_FIELD/,
    ]);
  for (const [field, off] of [
    ['magic', 1],
    ['version', 4],
    ['OEM public key (PKH)', 40],
    ['size', 72],
    ['tag', 80],
    ['secrets', 150],
  ] as const)
    cases.push([`altered payload: ${field}`, () => viaHsm(hsm, flip(payload, off)), /E_LICENSE|E_BAD_MAGIC/]);
  cases.push([
    'license issued for another chip',
    () => {
      // The other chip's provisioning stops once its license is out (a programmer that keeps it).
      const other = newDevice();
      let stolen: Uint8Array | undefined;
      const r = sspProvision(other, fsbl(), ({ certificate, sessionId }) => {
        stolen = hsm.issue(certificate, sessionId);
        return { license: stolen, payload: flip(payload, 150) };
      });
      assert.equal(r.ok, false);
      return () => ({ license: stolen as Uint8Array, payload });
    },
    /live license for session|license tag does not authenticate/,
  ]);
  cases.push([
    'replayed live license (an earlier session of this chip)',
    (dev) => {
      const old = newHsm(1);
      let first: Uint8Array | undefined;
      // Session 1 gets a license but fails on a damaged payload; session 2 replays that license.
      sspProvision(dev, fsbl(), ({ certificate, sessionId }) => {
        first = old.issue(certificate, sessionId);
        return { license: first, payload: flip(payload, 150) };
      });
      return () => ({ license: first as Uint8Array, payload });
    },
    /^provisioning refused, buffers wiped: E_LICENSE: live license for session 0x[0-9a-f]+, this boot opened 0x[0-9a-f]+ \(replayed\)$/,
  ]);
  cases.push([
    'FSBL older than the license allows',
    () => viaHsm(newHsm(1, { fsblMinVersion: 3 })),
    /FSBL version 2 is below the license's minimum 3/,
  ]);
  cases.push([
    'payload encrypted with another OEM key',
    () => viaHsm(hsm, packagePayload({ secrets: SECRETS, oemPublicKey: p256PublicXY(oem), key: randomBytes(16), iv: IV })),
    /payload tag does not authenticate/,
  ]);
  cases.push(['HSM counter exhausted', () => viaHsm(newHsm(0)), /^E_HSM: license counter exhausted: 0 of 0 issued$/]);
  for (const [name, make, reason] of cases) {
    const dev = newDevice();
    const programmer = make(dev);
    const r = sspProvision(Mp1Device.open(dev.dir), fsbl(), programmer);
    assert.equal(r.ok, false, name);
    assert.match(r.halt ?? '', reason, name);
    assert.deepEqual(r.programmed, [], name);
    assertNothingProvisioned(dev, name);
  }
  // Forged certificate: a chip whose certificate another CA signed; the HSM refuses and counts nothing.
  const forged = newDevice({ ca: generateKey('ecdsa-p256') });
  const h = newHsm(5);
  const r = sspProvision(forged, fsbl(), viaHsm(h));
  assert.match(r.halt ?? '', /^E_LICENSE: chip certificate of 5000200A is not signed by the CA this HSM trusts/);
  assert.equal(h.remaining, 5);
  assertNothingProvisioned(forged, 'forged certificate');
  // A closed chip never runs SSP.
  const closed = newDevice();
  closed.provision({ pkh: publicKeyHash(p256PublicXY(oem)), close: true });
  assert.match(sspProvision(Mp1Device.open(closed.dir), fsbl({ key: oem }), viaHsm(h)).halt ?? '', /closed: SSP is not allowed/);
  assert.equal(h.remaining, 5);
});

test('normal licenses: bound to the chip, not the session', () => {
  const dev = newDevice();
  const hsm = newHsm(1, { license: 'normal' });
  let license: Uint8Array | undefined;
  const first = sspProvision(dev, fsbl(), ({ certificate }) => {
    license = hsm.issue(certificate);
    return { license, payload: flip(payload, 200) };
  });
  assert.match(first.halt ?? '', /payload tag/);
  assert.equal(decodeLicense(license as Uint8Array).type, 'normal');
  // The same chip may use its license again (power loss during SSP) without spending another.
  const again = sspProvision(Mp1Device.open(dev.dir), fsbl(), () => ({ license: license as Uint8Array, payload }));
  assert.equal(again.ok, true, again.halt);
  assert.equal(hsm.remaining, 0);
  // Another chip cannot.
  const other = newDevice();
  assert.match(
    sspProvision(other, fsbl(), () => ({ license: license as Uint8Array, payload })).halt ?? '',
    /license tag does not authenticate/,
  );
  assertNothingProvisioned(other, 'normal license on another chip');
});

test('property: hostile SSP messages give typed errors; no altered license or payload is ever accepted', () => {
  const dev = newDevice();
  const hsm = newHsm(1, { license: 'normal' });
  let license: Uint8Array = new Uint8Array(0);
  let certificate: Uint8Array = new Uint8Array(0);
  sspProvision(dev, fsbl(), (req) => {
    certificate = req.certificate;
    license = hsm.issue(req.certificate);
    return { license, payload: new Uint8Array(0) };
  });
  const valid = [license, payload, certificate];
  const mutated = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.tuple(fc.constantFrom(...valid), fc.nat(), fc.integer({ min: 1, max: 255 })).map(([b, i, x]) => {
      const c = b.slice();
      c[i % c.length] = (c[i % c.length] as number) ^ x;
      return c;
    }),
    fc.tuple(fc.constantFrom(...valid), fc.nat(300)).map(([b, n]) => b.slice(0, n % (b.length + 1))),
  );
  fc.assert(
    fc.property(mutated, (b) => {
      for (const decode of [decodeLicense, decodePayload, decodeCertificate]) {
        try {
          decode(b);
        } catch (e) {
          assert.ok(isRseError(e), String(e));
        }
      }
    }),
    { seed: 9, numRuns: 3000 },
  );
  const pos = (n: number) => fc.tuple(fc.nat(n - 1), fc.integer({ min: 1, max: 255 }));
  fc.assert(
    fc.property(fc.boolean(), pos(LICENSE_SIZE), pos(PAYLOAD_SIZE), (which, [li, lx], [pi, px]) => {
      const l = license.slice();
      const p = payload.slice();
      if (which) l[li] = (l[li] as number) ^ lx;
      else p[pi] = (p[pi] as number) ^ px;
      assert.throws(
        () => romUnwrap({ hwSecret: dev.hwSecret, license: l, payload: p, fsblVersion: 2 }),
        (e) => isRseError(e),
      );
    }),
    { seed: 9, numRuns: 400 },
  );
  // And the unaltered pair unwraps to the secrets.
  assert.deepEqual(romUnwrap({ hwSecret: dev.hwSecret, license, payload, fsblVersion: 2 }).secrets, SECRETS);
});

test('CLI: rse ssp package, hsm init/show, provision (exit 0; exhausted HSM exit 1), info', async () => {
  const dir = tempDir();
  const key = join(dir, 'oem.pem');
  const k = '000102030405060708090a0b0c0d0e0f';
  writeFileSync(join(dir, 'iv.hex'), 'f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff\n');
  writeFileSync(join(dir, 'secrets.bin'), SECRETS);
  writeFileSync(join(dir, 'fw.bin'), new Uint8Array(512).fill(1));
  for (const args of [
    ['keygen', '-t', 'ecdsa-p256', '-k', key],
    ['stm32', 'sign', join(dir, 'fw.bin'), join(dir, 'ssp.stm32'), '-l', '0x2ffc2500', '-e', '0x2ffc2500', '-b', '0x10', '-v', '2'],
    [
      'ssp',
      'package',
      '--secrets',
      join(dir, 'secrets.bin'),
      '--pubkey',
      key,
      '--key',
      k,
      '--iv',
      join(dir, 'iv.hex'),
      '-o',
      join(dir, 'p.ssp'),
    ],
    ['ssp', 'hsm', 'init', join(dir, 'hsm'), '--key', k, '--iv', join(dir, 'iv.hex'), '--max', '1'],
    ['stm32', 'device', 'create', join(dir, 'a')],
    ['stm32', 'device', 'create', join(dir, 'b')],
  ])
    assert.equal((await runCli(args)).code, 0, args.join(' '));
  const a = await runCli([
    'ssp',
    'provision',
    join(dir, 'a'),
    '--hsm',
    join(dir, 'hsm'),
    '--payload',
    join(dir, 'p.ssp'),
    '--fsbl',
    join(dir, 'ssp.stm32'),
    '--save-license',
    join(dir, 'lic.bin'),
  ]);
  assert.equal(a.code, 0, a.stdout + a.stderr);
  assert.match(a.stdout, /provisioned and closed; \d+ OTP words programmed and locked; HSM: 0 licenses left/);
  const b = await runCli([
    'ssp',
    'provision',
    join(dir, 'b'),
    '--hsm',
    join(dir, 'hsm'),
    '--payload',
    join(dir, 'p.ssp'),
    '--fsbl',
    join(dir, 'ssp.stm32'),
    '--json',
  ]);
  assert.equal(b.code, 1);
  assert.match((JSON.parse(b.stdout) as { halt: string }).halt, /license counter exhausted: 1 of 1/);
  const replay = await runCli([
    'ssp',
    'provision',
    join(dir, 'b'),
    '--hsm',
    join(dir, 'hsm'),
    '--payload',
    join(dir, 'p.ssp'),
    '--fsbl',
    join(dir, 'ssp.stm32'),
    '--license',
    join(dir, 'lic.bin'),
  ]);
  assert.equal(replay.code, 1);
  assert.match(replay.stdout, /refused: .*E_LICENSE/);
  const show = await runCli(['ssp', 'hsm', 'show', join(dir, 'hsm')]);
  assert.match(show.stdout, /1 of 1 live licenses issued, 0 left/);
  const otp = await runCli(['stm32', 'otp', 'show', join(dir, 'a')]);
  assert.match(otp.stdout, /OTP 59 {2}programmed {2}locked/);
  assert.doesNotMatch(otp.stdout, /OTP 56 {2}0x/, 'the RMA password is not printed');
  const info = await runCli(['ssp', 'info', join(dir, 'lic.bin'), '--json']);
  assert.equal((JSON.parse(info.stdout) as { type: string }).type, 'live');
  const bad = await runCli(['ssp', 'info', join(dir, 'fw.bin')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /512 bytes is no SSP message/);
});
