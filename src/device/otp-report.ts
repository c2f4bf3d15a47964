/**
 * `rse otp show`: every field of a device's OTP with what it holds and what it is for, the LCS,
 * TP mode, integrity check and counters. Secret keys are reported as programmed or blank, never
 * by value.
 * @module
 */
import { hash } from '../crypto/index.ts';
import { readU32le as u32 } from '../lib/bytes.ts';
import { hex0x, toHex } from '../lib/hex.ts';
import { LCM_OTP, lcsFromOtp, rotpkZeroCountOk, tpModeFromOtp, zeroBits } from '../otp/lcm.ts';
import { decodeCounter, type IntegrityProblem } from '../otp/plat-otp.ts';
import type { Device } from './device.ts';

/** Fields whose values are secrets: `otp show` never prints them. */
export const SECRET_FIELDS: ReadonlySet<string> = new Set([
  'huk',
  'guk',
  'kp_cm',
  'kce_cm',
  'kp_dm',
  'kce_dm',
  'runtime_otp_encryption_key',
  'bl2_encryption_key',
  's_image_encryption_key',
  'ns_image_encryption_key',
]);

export interface OtpFieldReport {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly area: string;
  readonly state: 'blank' | 'programmed';
  /** The value, decoded for its kind; absent for secrets and blank fields. */
  readonly value?: string | number;
  readonly note?: string;
  readonly doc: string;
}

/** Whether a field holds a secret (by its name, or its last path component on 2.3: `header.lcm_hardware_area.huk`). */
export function isSecretField(name: string): boolean {
  return SECRET_FIELDS.has(name) || SECRET_FIELDS.has(name.slice(name.lastIndexOf('.') + 1));
}

/** Every OTP field of a device explained, its counters and its integrity, as `rse otp show` prints it. */
export interface OtpReport {
  readonly profile: string;
  readonly lcs: string;
  readonly tpMode: string;
  readonly psi: number;
  readonly lastBoot?: string;
  readonly rotpkZeroCount: 'ok' | 'mismatch';
  readonly integrityChecked: string;
  readonly integrity: readonly IntegrityProblem[];
  readonly counters: Readonly<Record<string, number | string>>;
  readonly fields: readonly OtpFieldReport[];
}

/** Builds the report from the raw OTP (as a debugger would read it) and the device state. */
export function otpReport(dev: Device): OtpReport {
  const otp = dev.otp;
  const layout = dev.plat.layout;
  const lcs = lcsFromOtp(otp);
  const integrity = dev.plat.integrityProblems(lcs);
  const counters: Record<string, number | string> = {};
  const fields: OtpFieldReport[] = [];
  for (const f of layout.fields) {
    const raw = otp.subarray(f.offset, f.offset + f.size);
    const blank = raw.every((b) => b === 0);
    let value: string | number | undefined;
    let note: string | undefined;
    if (f.kind === 'counter') {
      try {
        value = decodeCounter(layout.counterEncoding, raw, f.name);
      } catch (e) {
        value = `invalid: ${(e as Error).message}`;
      }
      counters[f.name] = value;
    } else if (isSecretField(f.name)) {
      note = blank
        ? undefined
        : `secret, ${zeroBits(raw)} zero bits${f.kind === 'encrypted-key' ? ', stored AES-CTR encrypted with KCE_CM' : ''}`;
    } else if (f.name === 'bl1_2_image') {
      const lenField = layout.fields.find((x) => x.name === 'bl1_2_image_len');
      const len = lenField === undefined ? f.size : u32(otp, lenField.offset);
      if (len > 0 && len <= f.size) {
        const image = otp.subarray(layout.bl1_2End - len, layout.bl1_2End);
        const digest = hash('sha256', image);
        const slot = otp.subarray(LCM_OTP.rotpk, LCM_OTP.rotpk + 32);
        value = `${len} bytes at ${hex0x(layout.bl1_2End - len, 4)}, SHA-256 ${toHex(digest)}`;
        if (layout.bl1_2HashField === 'rotpk')
          note = Buffer.compare(digest, slot) === 0 ? 'matches the hash in the ROTPK slot' : 'does NOT match the hash in the ROTPK slot';
      } else if (!blank) value = `${f.size} bytes (no valid length recorded)`;
    } else if (f.kind === 'u32' || f.kind === 'config') {
      value =
        raw.length >= 4
          ? hex0x(u32(raw), 8)
          : hex0x(
              raw.reduceRight((v, b) => v * 256 + b, 0),
              2 * raw.length,
            );
      if (f.name.endsWith('tp_mode_config')) note = tpModeFromOtp(otp);
    } else if (f.kind === 'u64') {
      value = `0x${new DataView(raw.buffer, raw.byteOffset, 8).getBigUint64(0, true).toString(16)}`;
    } else if (f.kind === 'string') {
      const end = raw.indexOf(0);
      value = new TextDecoder().decode(raw.subarray(0, end < 0 ? raw.length : end));
    } else if (f.kind === 'image' || (f.kind === 'bytes' && f.size > 64)) {
      value = blank ? undefined : `data up to byte ${f.size - countTrailingZeros(raw)} of ${f.size}, SHA-256 ${toHex(hash('sha256', raw))}`;
    } else value = toHex(raw);
    if (blank && f.kind !== 'counter') value = undefined;
    fields.push({
      name: f.name,
      offset: f.offset,
      size: f.size,
      area: f.area,
      state: blank ? 'blank' : 'programmed',
      ...(value === undefined ? {} : { value }),
      ...(note === undefined ? {} : { note }),
      doc: f.doc,
    });
  }
  const integrityChecked =
    layout.integrity === 'area-zero-counts'
      ? lcs === 'CM'
        ? 'the SoC id and configuration zero counts (the areas are checked from DM on)'
        : `the area infos, the SoC id, the CM and BL1_2 areas${lcs === 'SE' ? ', the DM area' : ''} and the CM ROTPK array in use`
      : layout.integrity === 'locked-areas'
        ? lcs === 'SE'
          ? 'CM and DM locked areas'
          : lcs === 'DM'
            ? 'CM locked area'
            : 'nothing (checked from DM on)'
        : lcs === 'SE'
          ? 'the zero count of every checked field and the ROTPK slot'
          : 'nothing (checked in SE)';
  return {
    profile: dev.profile.name,
    lcs,
    tpMode: tpModeFromOtp(otp),
    psi: dev.psi,
    ...(dev.json.lastBoot === undefined ? {} : { lastBoot: dev.json.lastBoot }),
    rotpkZeroCount: rotpkZeroCountOk(otp) ? 'ok' : 'mismatch',
    integrityChecked,
    integrity,
    counters,
    fields,
  };
}

function countTrailingZeros(b: Uint8Array): number {
  let n = 0;
  for (let i = b.length - 1; i >= 0 && b[i] === 0; i--) n++;
  return n;
}

/** Text rendering of {@link otpReport}. */
export function renderOtpReport(r: OtpReport, all: boolean, showPsi = true): string {
  const out: string[] = [];
  out.push(`profile ${r.profile}   LCS ${r.lcs}   TP mode ${r.tpMode}${showPsi ? `   PSI ${hex0x(r.psi)}` : ''}`);
  if (r.lastBoot !== undefined) out.push(`last boot: ${r.lastBoot}`);
  out.push(`ROTPK hardware zero count: ${r.rotpkZeroCount}`);
  if (r.integrity.length === 0) out.push(`integrity: intact (checked: ${r.integrityChecked})`);
  for (const p of r.integrity)
    out.push(`integrity: FAILED ${p.check} at ${hex0x(p.offset, 3)}: ${p.computed} zero bits, ${p.stored} recorded`);
  out.push(
    `counters: ${Object.entries(r.counters)
      .map(([k, v]) => `${k.replace('nv_counter_', '')}=${v}`)
      .join(' ')}`,
  );
  out.push('');
  out.push('offset  size   area        field                          value');
  for (const f of r.fields) {
    if (!all && f.state === 'blank') continue;
    const shown = f.value === undefined ? (f.state === 'blank' ? 'blank' : 'programmed') : String(f.value);
    const v = shown.length > 72 ? `${shown.slice(0, 69)}...` : shown;
    out.push(
      `${hex0x(f.offset, 4)}  ${String(f.size).padStart(5)}  ${f.area.padEnd(10)}  ${f.name.padEnd(30)} ${v}${f.note === undefined ? '' : `  (${f.note})`}`,
    );
    out.push(`${' '.repeat(52)}${f.doc}`);
  }
  if (!all) out.push('', `(${r.fields.filter((f) => f.state === 'blank').length} blank fields hidden; --all lists them)`);
  return `${out.join('\n')}\n`;
}
