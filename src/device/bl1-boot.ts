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
import { BL1_MAX_SECURITY_COUNTER, BL2_PARTITION_SIZE, decryptBl1Image, formatBl1Version, parseBl1Image } from '../bl1/image.ts';
import { hash } from '../crypto/index.ts';
import { decodeLmsPublicKey, encodeLmsPublicKey, lmsVerifyProblem } from '../crypto/lms.ts';
import { readU32le } from '../lib/bytes.ts';
import { fromHex } from '../lib/hex.ts';
import { PlatOtpError } from '../otp/plat-otp.ts';
import type { Device } from './device.ts';
import { findInHostFlash } from './host-flash.ts';

/** `UUID_RSE_FIRMWARE_BL2`, bytes in FIP order. */
export const RSE_BL2_UUID = fromHex('a3b3b30debc94048b480155361c17048');
const BL1_2_CODE_SIZE = 0x2000;

/** One boot measurement (measured-boot slot). */
export interface Measurement {
  readonly slot: number;
  readonly swType: string;
  readonly signerId: Uint8Array;
  readonly version: string;
  readonly value: Uint8Array;
  readonly locked: boolean;
}

/** One check a stage made. */
export interface BootCheck {
  readonly stage: 'BL1_1' | 'BL1_2';
  readonly check: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface Bl1Result {
  readonly ok: boolean;
  readonly checks: readonly BootCheck[];
  readonly measurements: readonly Measurement[];
  /** The BL2 that BL1_2 would jump to. */
  readonly bl2?: { readonly bank: string; readonly version: string; readonly securityCounter: number; readonly code: Uint8Array };
  readonly halt?: { readonly stage: 'BL1_1' | 'BL1_2'; readonly reason: string; readonly code: string };
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The BL2 candidates: FIP_A/FIP_B entries (2.1) or the two copies in the emulated flash (1.7). */
function bl2Candidates(dev: Device, flash: Uint8Array): { bank: string; bytes?: Uint8Array; reason?: string }[] {
  const size = BL2_PARTITION_SIZE[dev.profile];
  if (dev.profile === 'rss-1.7') {
    return [0, size].map((at, i) => {
      const bank = `BL2 copy ${i} (flash 0x${at.toString(16)})`;
      return at + size <= flash.length ? { bank, bytes: flash.subarray(at, at + size) } : { bank, reason: 'beyond the end of the flash' };
    });
  }
  return findInHostFlash(flash, RSE_BL2_UUID).map((l) =>
    l.ok ? { bank: l.bank, bytes: flash.subarray(l.offset, l.offset + l.size) } : { bank: l.bank, reason: l.reason },
  );
}

/** Runs BL1_1's BL1_2 check and BL1_2 on a device whose BL1_1 found nothing to provision. */
export function runBl1(dev: Device): Bl1Result {
  const checks: BootCheck[] = [];
  const measurements: Measurement[] = [];
  const check = (stage: 'BL1_1' | 'BL1_2', c: string, ok: boolean, detail: string): boolean => {
    checks.push({ stage, check: c, ok, detail });
    return ok;
  };
  const halt = (stage: 'BL1_1' | 'BL1_2', reason: string, code: string): Bl1Result => ({
    ok: false,
    checks,
    measurements,
    halt: { stage, reason, code },
  });
  const p = dev.plat;
  // BL1_1: BL1_2 into ITCM, hashed over the full 8 KiB.
  let expected: Uint8Array;
  const itcm = new Uint8Array(BL1_2_CODE_SIZE);
  try {
    itcm.set(p.read('bl1_2_image').subarray(0, BL1_2_CODE_SIZE));
    expected = p.read(dev.profile === 'rse-2.1' ? 'rotpk' : 'bl1_2_image_hash');
  } catch (e) {
    if (e instanceof PlatOtpError) return halt('BL1_1', `reading BL1_2 from OTP: ${e.message}`, 'E_OTP_READ');
    throw e;
  }
  const bl1_2Hash = hash('sha256', itcm);
  if (
    !check(
      'BL1_1',
      'BL1_2 hash',
      same(bl1_2Hash, expected),
      `SHA-256 over 8 KiB of ITCM vs the OTP ${dev.profile === 'rse-2.1' ? 'ROTPK slot' : 'bl1_2_image_hash'}`,
    )
  ) {
    return halt('BL1_1', 'BL1_2 in OTP does not match its hash: no recovery image, BL1_1 panics', 'E_BAD_HASH');
  }
  if (dev.profile === 'rse-2.1') {
    measurements.push({ slot: 0, swType: 'BL1_2', signerId: new Uint8Array(32), version: '0.0.0+0', value: bl1_2Hash, locked: true });
  }
  // BL1_2: BL2 from the first copy that passes every check.
  const flash = dev.store.read('flash.bin') ?? new Uint8Array(0);
  const kdf = dev.profile === 'rse-2.1' ? ('cmac-counter' as const) : ('hash-ecb' as const);
  const pubBytes = p.read('bl1_rotpk_0');
  let pub: ReturnType<typeof decodeLmsPublicKey>;
  try {
    pub = decodeLmsPublicKey(pubBytes, 'OTP bl1_rotpk_0');
  } catch (e) {
    return halt('BL1_2', (e as Error).message, 'E_KEY');
  }
  const encKey = p.read('bl2_encryption_key');
  for (const c of bl2Candidates(dev, flash)) {
    if (!check('BL1_2', `${c.bank}: located`, c.bytes !== undefined, c.reason ?? 'found')) continue;
    const bytes = c.bytes as Uint8Array;
    if (
      !check(
        'BL1_2',
        `${c.bank}: size`,
        bytes.length >= BL2_PARTITION_SIZE[dev.profile],
        `${bytes.length} bytes, the BL2 partition is ${BL2_PARTITION_SIZE[dev.profile]}`,
      )
    )
      continue;
    const h = parseBl1Image(bytes.subarray(0, BL2_PARTITION_SIZE[dev.profile]), c.bank);
    if (
      !check(
        'BL1_2',
        `${c.bank}: security counter bound`,
        h.securityCounter < BL1_MAX_SECURITY_COUNTER,
        `${h.securityCounter} < ${BL1_MAX_SECURITY_COUNTER}`,
      )
    )
      continue;
    const d = decryptBl1Image(h, encKey, kdf);
    if (
      !check(
        'BL1_2',
        `${c.bank}: decryption magic`,
        readU32le(d.plaintext, 0) === 0xdeadbeef,
        `first word 0x${readU32le(d.plaintext, 0).toString(16)}`,
      )
    )
      continue;
    const problem = lmsVerifyProblem(pub, d.message, h.signature);
    if (!check('BL1_2', `${c.bank}: LMS signature`, problem === undefined, problem ?? 'verifies with OTP bl1_rotpk_0')) continue;
    const stored = p.readCounter('nv_counter_bl1_0');
    if (
      !check('BL1_2', `${c.bank}: anti-rollback`, stored <= h.securityCounter, `image counter ${h.securityCounter}, NV counter ${stored}`)
    )
      continue;
    if (stored < h.securityCounter) p.setCounter('nv_counter_bl1_0', h.securityCounter);
    dev.kmu.invalidateHardwareSlots();
    const version = formatBl1Version(h.version);
    measurements.push({
      slot: 1,
      swType: 'BL2',
      signerId: hash('sha256', encodeLmsPublicKey(pub)),
      version,
      value: hash('sha256', d.message),
      locked: true,
    });
    return {
      ok: true,
      checks,
      measurements: dev.profile === 'rse-2.1' ? measurements : [],
      bl2: { bank: c.bank, version, securityCounter: h.securityCounter, code: d.plaintext.subarray(0x800 - 0x5c8) },
    };
  }
  return halt('BL1_2', 'no BL2 copy passed: no recovery image, BL1_2 panics', 'E_NO_IMAGE');
}
