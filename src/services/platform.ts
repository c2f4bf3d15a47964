/**
 * The platform partition's messages (`platform_sp.c`, RSE `tfm_platform_system.c`, `nv_counters.c`) and
 * the crypto partition's host-visible subset (`tfm_crypto_pack_iovec`: GENERATE_RANDOM and
 * EXPORT_PUBLIC_KEY of the host ROTPKs).
 * @module
 */
import type { RandomSource } from '../crypto/index.ts';
import { readU16le, readU32le, u32le } from '../lib/bytes.ts';
import type { PlatOtp } from '../otp/plat-otp.ts';
import { rotpkArrayIndex } from '../otp/zero-count-2.3.ts';
import type { HostRotpkSpec } from '../profiles/types.ts';
import { PSA, type PsaCall, type PsaReply, reply, TFM_PLATFORM_ERR_NOT_SUPPORTED, TFM_PLATFORM_ERR_SYSTEM_ERROR } from './psa.ts';

/** `PLAT_NV_COUNTER_NS_0`: the host's counter 0 in the platform's counter list. */
export const PLAT_NV_COUNTER_NS_0 = 13;
export const NS_COUNTERS = 3;

/** `PLATFORM_SERVICE_INPUT_BUFFER_SIZE` / `OUTPUT_BUFFER_SIZE` on RSE. */
export const IOCTL_BUFFER_SIZE = 64;

/** The vectors up to the last non-empty one (the service's `in_len` / `out_len`). */
function trimmed<T>(v: readonly T[], size: (x: T) => number): readonly T[] {
  let n = v.length;
  while (n > 0 && size(v[n - 1] as T) === 0) n--;
  return v.slice(0, n);
}

/**
 * The platform partition (`platform_sp.c`): NV_READ / NV_INCREMENT of the host counters (any
 * failure is TFM_PLATFORM_ERR_SYSTEM_ERROR, +1), SYSTEM_RESET (answered, then the RSE resets) and
 * IOCTL (RSE's HAL supports no request: TFM_PLATFORM_ERR_NOT_SUPPORTED).
 */
export function callPlatform(otp: PlatOtp, c: PsaCall): PsaReply {
  const fail = reply(TFM_PLATFORM_ERR_SYSTEM_ERROR);
  const ins = trimmed(c.inVecs, (v) => v.length);
  const outs = trimmed(c.outCaps, (n) => n);
  if (c.type === 1012) return { status: PSA.SUCCESS, outVecs: [], reset: true };
  if (c.type === 1013) {
    if (ins.length < 1 || ins.length > 2 || outs.length > 1) return fail;
    if ((ins[0] as Uint8Array).length < 4) return reply(PSA.ERROR_PROGRAMMER_ERROR);
    if (ins.length > 1 && (ins[1] as Uint8Array).length > IOCTL_BUFFER_SIZE) return reply(PSA.ERROR_BUFFER_TOO_SMALL);
    if (outs.length > 0 && (outs[0] as number) > IOCTL_BUFFER_SIZE) return reply(PSA.ERROR_PROGRAMMER_ERROR);
    // The service writes its (untouched, zeroed) output buffer back whatever the HAL said.
    return outs.length > 0
      ? reply(TFM_PLATFORM_ERR_NOT_SUPPORTED, new Uint8Array(outs[0] as number))
      : reply(TFM_PLATFORM_ERR_NOT_SUPPORTED);
  }
  if (c.type !== 1010 && c.type !== 1011) return reply(PSA.ERROR_NOT_SUPPORTED);
  const idVec = ins[0];
  if (ins.length !== 1 || idVec?.length !== 4) return fail;
  let id = readU32le(idVec, 0);
  // NS callers name their counters from 0: the service offsets them and allows only those.
  if (c.clientId < 0) id += PLAT_NV_COUNTER_NS_0;
  const ns = id - PLAT_NV_COUNTER_NS_0;
  if (ns < 0 || ns >= NS_COUNTERS) return fail;
  const field = otp.layout.nsCounters?.[ns] ?? `nv_counter_ns_${ns}`;
  try {
    if (c.type === 1010) {
      if (outs.length !== 1 || outs[0] !== 4) return fail;
      return reply(PSA.SUCCESS, u32le(otp.readCounter(field)));
    }
    if (outs.length !== 0) return fail;
    otp.setCounter(field, otp.readCounter(field) + 1);
    return reply(PSA.SUCCESS);
  } catch {
    return fail;
  }
}

/** How a profile's crypto partition lays out `tfm_crypto_pack_iovec` and numbers its functions. */
export interface CryptoAbi {
  readonly packSize: number;
  readonly functionIdAt: number;
  readonly generateRandom: number;
  readonly exportPublicKey: number;
  /** `psa_export_key` (TF-M 2.1 numbering; the TF-M ≤ 2.0 ABI opens no export_key to the host). */
  readonly exportKey?: number;
}

/** TF-M 2.1 ((group << 8) | index, 56-byte iovec) and TF-M ≤ 2.0 ((index << 8) | group, 48 bytes). */
export const CRYPTO_ABI = {
  'tfm-2.1': { packSize: 56, functionIdAt: 40, generateRandom: 0x0100, exportPublicKey: 0x0206, exportKey: 0x0205 },
  'tfm-2.0': { packSize: 48, functionIdAt: 44, generateRandom: 0x0000, exportPublicKey: 0x0701 },
} as const satisfies Record<string, CryptoAbi>;

/** The pack iovec's function id, if the vector is one. */
export function cryptoFunctionId(abi: CryptoAbi, iov: Uint8Array | undefined): number | undefined {
  return iov !== undefined && iov.length === abi.packSize ? readU16le(iov, abi.functionIdAt) : undefined;
}

/** A host ROTPK as the crypto partition loads it: its form and bytes, or a PSA error. */
export type HostRotpkLookup = { readonly form: HostRotpkSpec['form']; readonly material: Uint8Array } | number;

/**
 * Host ROTPK `keyId` of the profile's table: a point as 0x04 ‖ OTP bytes (DOES_NOT_EXIST when all
 * zero), a hash as its OTP bytes; INVALID_HANDLE for an id the table lacks, DOES_NOT_EXIST for an
 * OTP field the map lacks.
 */
export function hostRotpk(plat: PlatOtp, otp: Uint8Array, table: readonly HostRotpkSpec[], keyId: number): HostRotpkLookup {
  const spec = table.find((k) => k.keyId === keyId);
  if (spec === undefined) return PSA.ERROR_INVALID_HANDLE;
  const field =
    'field' in spec.at ? spec.at.field : `${spec.at.array}.rotpk_areas_${rotpkArrayIndex(otp, spec.at.array)}.rotpk_${spec.at.slot}`;
  let raw: Uint8Array;
  try {
    raw = plat.read(field);
  } catch {
    return PSA.ERROR_DOES_NOT_EXIST;
  }
  if (spec.form === 'hash') return { form: 'hash', material: raw };
  if (raw.every((b) => b === 0)) return PSA.ERROR_DOES_NOT_EXIST;
  const key = new Uint8Array(1 + raw.length);
  key[0] = 0x04;
  key.set(raw, 1);
  return { form: 'point', material: key };
}

/**
 * Whether {@link callCrypto} answers this call: anything on the TF-M ≤ 2.0 ABI, GENERATE_RANDOM,
 * and EXPORT_PUBLIC_KEY of a host ROTPK held as a point; the rest (a ROTPK hash among it) is the
 * PSA Crypto service's.
 */
export function isHostCryptoCall(abi: CryptoAbi, c: PsaCall, table: readonly HostRotpkSpec[]): boolean {
  const iov = c.inVecs[0];
  const fn = cryptoFunctionId(abi, iov);
  if (c.type !== 0 || abi !== CRYPTO_ABI['tfm-2.1'] || fn === undefined || fn === abi.generateRandom) return true;
  if (fn !== abi.exportPublicKey || iov === undefined) return false;
  const id = readU32le(iov, 0);
  return table.some((k) => k.keyId === id && k.form === 'point');
}

export function callCrypto(rotpk: (keyId: number) => HostRotpkLookup, abi: CryptoAbi, random: RandomSource, c: PsaCall): PsaReply {
  if (c.type !== 0) return reply(PSA.ERROR_NOT_SUPPORTED);
  const iov = c.inVecs[0];
  const fn = cryptoFunctionId(abi, iov);
  if (fn === undefined || iov === undefined) return reply(PSA.ERROR_PROGRAMMER_ERROR);
  if (fn === abi.generateRandom) {
    if (c.outCaps.length !== 1) return reply(PSA.ERROR_PROGRAMMER_ERROR);
    const n = c.outCaps[0] as number;
    return reply(PSA.SUCCESS, n === 0 ? new Uint8Array(0) : random(n));
  }
  if (fn === abi.exportPublicKey) {
    if (c.outCaps.length !== 1) return reply(PSA.ERROR_PROGRAMMER_ERROR);
    const key = rotpk(readU32le(iov, 0));
    if (typeof key === 'number') return reply(key);
    if (key.form !== 'point') return reply(PSA.ERROR_INVALID_ARGUMENT);
    if (key.material.length > (c.outCaps[0] as number)) return reply(PSA.ERROR_BUFFER_TOO_SMALL);
    return reply(PSA.SUCCESS, key.material);
  }
  return reply(PSA.ERROR_NOT_SUPPORTED);
}
