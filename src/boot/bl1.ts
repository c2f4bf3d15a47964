/**
 * BL1_1's hand-over and BL1_2 on a provisioned device (`bl1/bl1_1/main.c`, `bl1/bl1_2/main.c`,
 * `bl1/bl1_2/lib/image.c`): BL1_2 out of OTP and checked over the full 8 KiB against its OTP
 * hash, measurement slot 0; then BL2 from FIP_A, else FIP_B (2.1's host flash) or from offsets 0
 * and 0x20000 of 1.7's emulated flash: security-counter bound, per-counter key, AES-256-CTR,
 * 0xDEADBEEF, LMS signature against OTP bl1_rotpk_0, NV counter check then update, KMU hardware
 * slots invalidated, measurement slot 1. Each check is reported with its outcome.
 * @module
 */
import { timingSafeEqual } from 'node:crypto';
import {
  BL1_ENCRYPTED_AT,
  BL1_HEADER_SIZE,
  BL1_MAGIC,
  BL1_MAX_SECURITY_COUNTER,
  decryptBl1Image,
  formatBl1Version,
  parseBl1Image,
} from '../bl1/image.ts';
import { type Bl1V2SignerTrust, bl1V2Offsets, checkBl1ImageV2, parseBl1ImageV2 } from '../bl1/image-v2.ts';
import { hash } from '../crypto/index.ts';
import { KMU_SLOT } from '../crypto/kmu.ts';
import { decodeLmsPublicKey, encodeLmsPublicKey, type LmsPublicKey, lmsVerifyProblem } from '../crypto/lms.ts';
import { bootState, deriveBootKeys, deriveBootKeys17, kdf } from '../crypto/rse-keys.ts';
import type { Device } from '../device/device.ts';
import { findInHostFlash } from '../device/host-flash.ts';
import { readU32le } from '../lib/bytes.ts';
import { isRseError } from '../lib/errors.ts';
import { PLAT_OTP_LCS } from '../otp/lcm.ts';
import { PlatOtpError } from '../otp/plat-otp.ts';
import { rotpkArrayIndex } from '../otp/zero-count-2.3.ts';
import { fipEntryUuid } from '../profiles/fip-table.ts';
import type { Bl1ImageV2Config } from '../profiles/types.ts';
import type { Measurement } from './shared-data.ts';

const BL1_2_CODE_SIZE = 0x2000;

export type { Measurement } from './shared-data.ts';

/** One check a stage made. */
export interface BootCheck {
  readonly stage: 'BL1_1' | 'BL1_2' | 'BL2';
  readonly check: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** What BL1_1 and BL1_2 checked and measured, the BL2 they hand over to, or where they stopped. */
export interface Bl1Result {
  readonly ok: boolean;
  readonly checks: readonly BootCheck[];
  readonly measurements: readonly Measurement[];
  /** The BL2 that BL1_2 would jump to. */
  readonly bl2?: { readonly bank: string; readonly version: string; readonly securityCounter: number; readonly code: Uint8Array };
  readonly halt?: { readonly stage: 'BL1_1' | 'BL1_2'; readonly reason: string; readonly code: string };
  /** Milliseconds each stage took. */
  readonly ms: { readonly BL1_1: number; readonly BL1_2: number };
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The BL2 candidates: FIP_A/FIP_B entries (2.1) or the two copies in the emulated flash (1.7). */
function bl2Candidates(dev: Device, flash: Uint8Array): { bank: string; bytes?: Uint8Array; reason?: string }[] {
  const { bl2PartitionSize: size, bl2Source: source } = dev.profile.bl1;
  if (source.kind === 'flash-offsets') {
    return source.offsets.map((at, i) => {
      const bank = `BL2 copy ${i} (flash 0x${at.toString(16)})`;
      return at + size <= flash.length ? { bank, bytes: flash.subarray(at, at + size) } : { bank, reason: 'beyond the end of the flash' };
    });
  }
  return findInHostFlash(flash, fipEntryUuid(source.entry)).map((l) =>
    l.ok ? { bank: l.bank, bytes: flash.subarray(l.offset, l.offset + l.size) } : { bank: l.bank, reason: l.reason },
  );
}

type Stage = 'BL1_1' | 'BL1_2';

/** The BL2 copies that are found and large enough, each check reported; `ok` reports more for that copy. */
function* sizedCandidates(
  dev: Device,
  run: Run,
  flash: Uint8Array,
  partition: number,
): Generator<{ bank: string; bytes: Uint8Array; ok: (check: string, pass: boolean, detail: string) => boolean }> {
  for (const c of bl2Candidates(dev, flash)) {
    const ok = (check: string, pass: boolean, detail: string): boolean => run.check('BL1_2', `${c.bank}: ${check}`, pass, detail);
    if (c.bytes === undefined) {
      ok('located', false, c.reason ?? 'not found');
      continue;
    }
    ok('located', true, 'found');
    if (ok('size', c.bytes.length >= partition, `${c.bytes.length} bytes, the BL2 partition is ${partition}`))
      yield { bank: c.bank, bytes: c.bytes, ok };
  }
}

/** The checks and measurements of one run, and how it ends. */
class Run {
  readonly checks: BootCheck[] = [];
  readonly measurements: Measurement[] = [];
  /** The stage running now. */
  stage: Stage = 'BL1_1';
  /** What BL1_1 computed over BL1_2 (part of the boot state the boot keys are bound to). */
  bl1_2Hash: Uint8Array = new Uint8Array(32);
  private readonly t0 = performance.now();
  private t1: number | undefined;
  /** Marks the start of BL1_2. */
  enterBl1_2(): void {
    this.stage = 'BL1_2';
    this.t1 = performance.now();
  }
  get ms(): { BL1_1: number; BL1_2: number } {
    const now = performance.now();
    return this.t1 === undefined ? { BL1_1: now - this.t0, BL1_2: 0 } : { BL1_1: this.t1 - this.t0, BL1_2: now - this.t1 };
  }
  check(stage: Stage, check: string, ok: boolean, detail: string): boolean {
    this.checks.push({ stage, check, ok, detail });
    return ok;
  }
  /** BL1_2 jumps to this BL2. */
  handOver(bl2: NonNullable<Bl1Result['bl2']>): Bl1Result {
    return { ok: true, checks: this.checks, measurements: this.measurements, bl2, ms: this.ms };
  }
  halt(stage: Stage, reason: string, code: string): Bl1Result {
    return { ok: false, checks: this.checks, measurements: this.measurements, halt: { stage, reason, code }, ms: this.ms };
  }
}

/** Runs BL1_1's BL1_2 check and BL1_2 on a device whose BL1_1 found nothing to provision. */
export function runBl1(dev: Device, flash: Uint8Array = dev.store.read('flash.bin') ?? new Uint8Array(0)): Bl1Result {
  const run = new Run();
  try {
    return bl1_1(dev, run) ?? bl1_2(dev, run, flash);
  } catch (e) {
    // An OTP read or counter update the LCM refuses stops the stage (the firmware panics).
    if (e instanceof PlatOtpError) return run.halt(run.stage, `OTP: ${e.message}`, 'E_OTP_READ');
    throw e;
  }
}

/** BL1_1: BL1_2 into ITCM, hashed over the full 8 KiB; a halt, or `undefined` to go on. */
function bl1_1(dev: Device, run: Run): Bl1Result | undefined {
  const itcm = new Uint8Array(BL1_2_CODE_SIZE);
  itcm.set(dev.plat.read('bl1_2_image').subarray(0, BL1_2_CODE_SIZE));
  const hashField = dev.profile.otp.bl1_2HashField;
  const bl1_2Hash = hash('sha256', itcm);
  const expected = dev.plat.read(hashField).subarray(0, bl1_2Hash.length);
  run.bl1_2Hash = bl1_2Hash;
  const where = hashField === 'rotpk' ? 'ROTPK slot' : hashField;
  if (!run.check('BL1_1', 'BL1_2 hash', same(bl1_2Hash, expected), `SHA-256 over 8 KiB of ITCM vs the OTP ${where}`)) {
    return run.halt('BL1_1', 'BL1_2 in OTP does not match its hash: no recovery image, BL1_1 panics', 'E_BAD_HASH');
  }
  const record = dev.profile.bl1.measureBl1_2;
  if (record !== undefined) {
    run.measurements.push({ ...record, signerId: new Uint8Array(32), version: '0.0.0+0', value: bl1_2Hash, locked: true });
  }
  return undefined;
}

/**
 * `boot_platform_post_init`: the VHUK, CPAK (IAK) seed and DAK seed, bound to the boot state,
 * into their KMU slots for the runtime (2.1: KDF over GUK/HUK; 1.7: the older KDF over HUK).
 */
function deriveRuntimeSeeds(dev: Device, bl1_2Hash: Uint8Array): void {
  const lcs = PLAT_OTP_LCS[dev.lcm.getLcs()];
  const huk = dev.kmu.use(KMU_SLOT.HUK);
  const keys =
    dev.profile.bl1.bootKeys === 'guk-boot-state'
      ? deriveBootKeys(
          huk,
          dev.kmu.use(KMU_SLOT.GUK),
          bootState({
            lcs,
            tpMode: dev.lcm.tpModeRegister,
            reprovisioningBits: readU32le(dev.plat.read(dev.profile.otp.reprovisioningField ?? 'reprovisioning_bits'), 0),
            bl1_2Hash,
          }),
        )
      : deriveBootKeys17(huk, bl1_2Hash, lcs);
  dev.kmu.set(KMU_SLOT.VHUK, keys.vhuk);
  dev.kmu.set(KMU_SLOT.CPAK_SEED, keys.cpakSeed);
  dev.kmu.set(KMU_SLOT.DAK_SEED, keys.dakSeed);
}

/** BL1_2: BL2 from the first copy that passes every check. */
function bl1_2(dev: Device, run: Run, flash: Uint8Array): Bl1Result {
  run.enterBl1_2();
  if (dev.profile.bl1.imageV2 !== undefined) return bl1_2V2(dev, run, flash, dev.profile.bl1.imageV2);
  const p = dev.plat;
  const { bl2PartitionSize: partition, kdf } = dev.profile.bl1;
  let pub: LmsPublicKey;
  try {
    pub = decodeLmsPublicKey(p.read('bl1_rotpk_0'), 'OTP bl1_rotpk_0');
  } catch (e) {
    if (isRseError(e)) return run.halt('BL1_2', e.message, 'E_KEY');
    throw e;
  }
  const encKey = p.read('bl2_encryption_key');
  if (dev.profile.bl1.loadsImageKeys) {
    // boot_platform_post_init: the S/NS image (SIC) keys go from the OTP into their KMU slots,
    // from where BL2 exports them to the SIC in XIP builds.
    dev.kmu.set(KMU_SLOT.SECURE_ENCRYPTION_KEY, p.read('s_image_encryption_key'));
    dev.kmu.set(KMU_SLOT.NON_SECURE_ENCRYPTION_KEY, p.read('ns_image_encryption_key'));
  }
  deriveRuntimeSeeds(dev, run.bl1_2Hash);
  for (const c of sizedCandidates(dev, run, flash, partition)) {
    const ok = c.ok;
    const h = parseBl1Image(c.bytes.subarray(0, partition), c.bank);
    const bound = h.securityCounter < BL1_MAX_SECURITY_COUNTER;
    if (!ok('security counter bound', bound, `${h.securityCounter} < ${BL1_MAX_SECURITY_COUNTER}`)) continue;
    const d = decryptBl1Image(h, encKey, kdf);
    const magic = readU32le(d.plaintext, 0);
    if (!ok('decryption magic', magic === BL1_MAGIC, `first word 0x${magic.toString(16)}`)) continue;
    const problem = lmsVerifyProblem(pub, d.message, h.signature);
    if (!ok('LMS signature', problem === undefined, problem ?? 'verifies with OTP bl1_rotpk_0')) continue;
    const stored = p.readCounter('nv_counter_bl1_0');
    if (!ok('anti-rollback', stored <= h.securityCounter, `image counter ${h.securityCounter}, NV counter ${stored}`)) continue;
    if (stored < h.securityCounter) p.setCounter('nv_counter_bl1_0', h.securityCounter);
    dev.kmu.invalidateHardwareSlots();
    const version = formatBl1Version(h.version);
    const record = dev.profile.bl1.measureBl2;
    if (record !== undefined) {
      const signerId = hash('sha256', encodeLmsPublicKey(pub));
      run.measurements.push({ ...record, signerId, version, value: hash('sha256', d.message), locked: true });
    }
    return run.handOver({
      bank: c.bank,
      version,
      securityCounter: h.securityCounter,
      code: d.plaintext.subarray(BL1_HEADER_SIZE - BL1_ENCRYPTED_AT),
    });
  }
  return run.halt('BL1_2', 'no BL2 copy passed: no recovery image, BL1_2 panics', 'E_NO_IMAGE');
}

/** The signer trust of BL1_2 v2 (`rse_bl1_rotpk.c`): CM then DM ROTPK of the arrays in use, hash and policy. */
function bl1SignerTrust(dev: Device, signers: number): Bl1V2SignerTrust[] {
  const map = dev.profile.otp.rotpkMap;
  if (map === undefined) return [];
  const out: Bl1V2SignerTrust[] = [];
  for (const who of (['cm', 'dm'] as const).slice(0, signers)) {
    const index = rotpkArrayIndex(dev.otp, who);
    const n = map[who].bl1;
    const policies = readU32le(dev.plat.read(`${who}.rotpk_areas_${index}.${who}_rotpk_policies`), 0);
    out.push({
      rotpkHash: dev.plat.read(`${who}.rotpk_areas_${index}.rotpk_${n}`),
      policy: ((policies >>> (18 + n)) & 1) === 1 ? 'required' : 'optional',
    });
  }
  return out;
}

/** Which revoked array (below the one in use) holds `keyHash` as its BL1 ROTPK, if any. */
function revokedArray(dev: Device, who: 'cm' | 'dm', keyHash: Uint8Array): string | undefined {
  const map = dev.profile.otp.rotpkMap;
  if (map === undefined) return undefined;
  const current = rotpkArrayIndex(dev.otp, who);
  // A key the array in use still holds is not revoked (an array update may keep it).
  const inUse = dev.plat.read(`${who}.rotpk_areas_${current}.rotpk_${map[who].bl1}`);
  if (same(inUse, keyHash.subarray(0, inUse.length))) return undefined;
  for (let i = 0; i < current; i++) {
    const stored = dev.plat.read(`${who}.rotpk_areas_${i}.rotpk_${map[who].bl1}`);
    if (same(stored, keyHash.subarray(0, stored.length))) return `${who.toUpperCase()} ROTPK ${map[who].bl1} of array ${i}`;
  }
  return undefined;
}

/** BL1_2 of TF-M 2.2+: the v2 image, its signers against the OTP ROTPK arrays, KCE_CM decryption. */
function bl1_2V2(dev: Device, run: Run, flash: Uint8Array, shape: Bl1ImageV2Config): Bl1Result {
  const counter = dev.profile.otp.bl1Counter ?? 'nv_counter_bl1_0';
  deriveRuntimeSeeds(dev, run.bl1_2Hash);
  const binding = dev.profile.bl2.imageBinding;
  if (binding?.enabled === true) {
    // rse_setup_image_binding_key: KDF(HUK, label, no boot state) into its slot, locked.
    dev.kmu.set(KMU_SLOT.SECURE_BINDING_KEY, kdf(dev.profile.bl1.kdf, dev.kmu.use(KMU_SLOT.HUK), binding.keyLabel, new Uint8Array(0), 32));
    dev.kmu.lock(KMU_SLOT.SECURE_BINDING_KEY);
  }
  const trust = bl1SignerTrust(dev, shape.signers);
  const kce = dev.kmu.use(KMU_SLOT.KCE_CM);
  for (const c of sizedCandidates(dev, run, flash, shape.partitionSize)) {
    const ok = c.ok;
    let v: ReturnType<typeof checkBl1ImageV2>;
    let h: ReturnType<typeof parseBl1ImageV2>;
    try {
      h = parseBl1ImageV2(shape, c.bytes, c.bank);
      v = checkBl1ImageV2(shape, c.bytes.subarray(0, shape.partitionSize), trust, shape.encryption ? kce : undefined);
    } catch (e) {
      if (!isRseError(e)) throw e;
      ok('image', false, e.message);
      continue;
    }
    for (const x of v.checks) ok(x.check, x.ok, x.detail);
    for (const [n, sig] of h.sigs.entries()) {
      const revoked = revokedArray(dev, n === 0 ? 'cm' : 'dm', hash('sha256', sig.rotpk));
      if (revoked !== undefined) ok(`signer ${n}: revocation`, false, `the embedded key is ${revoked}, revoked`);
    }
    if (!v.ok || v.protectedValues === undefined) continue;
    const stored = dev.plat.readCounter(counter);
    if (!ok('anti-rollback', stored <= h.securityCounter, `image counter ${h.securityCounter}, NV counter ${stored}`)) continue;
    if (stored < h.securityCounter) dev.plat.setCounter(counter, h.securityCounter);
    dev.kmu.invalidateHardwareSlots();
    const version = formatBl1Version(h.version);
    const record = dev.profile.bl1.measureBl2;
    if (record !== undefined) {
      const signerId = hash('sha256', (h.sigs[0] as { rotpk: Uint8Array }).rotpk);
      run.measurements.push({ ...record, signerId, version, value: hash('sha256', v.protectedValues), locked: true });
    }
    const o = bl1V2Offsets(shape);
    return run.handOver({
      bank: c.bank,
      version,
      securityCounter: h.securityCounter,
      code: v.protectedValues.subarray(o.code - o.version),
    });
  }
  return run.halt('BL1_2', 'no BL2 copy passed: no recovery image, BL1_2 panics', 'E_NO_IMAGE');
}
