/**
 * SSP end to end: the virtual HSM (OEM key and IV, the CA it trusts, a license counter kept in one
 * JSON file written atomically before each license leaves it) and the device's three boots.
 * @module
 */
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AsymKey, importRawPublicKey, rawPublicKey } from '../crypto/index.ts';
import { writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { fromHex, toHex } from '../lib/hex.ts';
import { CFG0_CLOSED, OTP_WORD } from './bsec.ts';
import { unwrapSecret, wrapKeyFileBeside, wrapKeyOf, wrapSecret } from './hsm-wrap.ts';
import { parseStm32Image, pkhOtpWords, publicKeyHash } from './image.ts';
import { type Mp1Device, romBoot } from './mp1.ts';
import {
  type BootContext,
  certificateMessage,
  decodeCertificate,
  makeLicense,
  newSessionId,
  RMA_MASK,
  romUnwrap,
  SSP_CMD,
  SSP_REQ,
  SSP_SUCCESS,
  SSP_WORD,
  secretWords,
  verifyCertificate,
  virtualStCa,
} from './ssp.ts';

const HSM_FILE = 'hsm.json';

interface HsmJson {
  readonly format: 1;
  readonly kind: 'stm32-ssp-hsm';
  readonly oemKey: string;
  readonly oemIv: string;
  readonly caPublicKey: string;
  readonly fsblMinVersion: number;
  readonly license: 'live' | 'normal';
  readonly maxLicenses: number;
  readonly issued: number;
  readonly ledger: readonly { readonly productId: string; readonly chip: string; readonly session?: number }[];
}

export interface HsmInit {
  readonly oemKey: Uint8Array;
  readonly oemIv: Uint8Array;
  readonly maxLicenses: number;
  readonly fsblMinVersion?: number;
  readonly ca?: AsymKey;
  readonly license?: 'live' | 'normal';
}

/** A virtual HSM: it never gives out the OEM key, only licenses wrapping it for one authenticated chip each, counted. */
export class SspHsm {
  readonly dir: string;
  private state: HsmJson;
  /** The file holding the key that wraps the OEM key and IV (outside the HSM directory). */
  private readonly wrapKeyFile: string;

  private constructor(dir: string, state: HsmJson, wrapKeyFile: string) {
    this.dir = dir;
    this.state = state;
    this.wrapKeyFile = wrapKeyFile;
  }

  /** `wrapKeyFile`: where the wrapping key is: a file (default `DIR.wrap-key`, made 0600 here) or a `pkcs11:` URI. */
  static init(dir: string, o: HsmInit, force = false, wrapKeyFile = wrapKeyFileBeside(dir)): SspHsm {
    if (existsSync(join(dir, HSM_FILE)) && !force)
      throw new RseError('E_EXISTS', `${dir} already holds an HSM (--force to replace it)`, { field: dir });
    if (o.oemKey.length !== 16 || o.oemIv.length !== 16)
      throw new RseError('E_ARGUMENT', 'the OEM key and IV are 16 bytes each', { field: 'key' });
    if (!Number.isInteger(o.maxLicenses) || o.maxLicenses < 0)
      throw new RseError('E_ARGUMENT', `--max ${o.maxLicenses} is not a count`, { field: 'max' });
    // Only its owner may enter the HSM directory; the secrets in it are wrapped besides.
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    const key = wrapKeyOf(wrapKeyFile, true);
    const hsm = new SspHsm(
      dir,
      {
        format: 1,
        kind: 'stm32-ssp-hsm',
        oemKey: wrapSecret(key, 'ssp-hsm:oemKey', o.oemKey),
        oemIv: wrapSecret(key, 'ssp-hsm:oemIv', o.oemIv),
        caPublicKey: toHex(rawPublicKey(o.ca ?? virtualStCa())),
        fsblMinVersion: o.fsblMinVersion ?? 0,
        license: o.license ?? 'live',
        maxLicenses: o.maxLicenses,
        issued: 0,
        ledger: [],
      },
      wrapKeyFile,
    );
    hsm.save();
    return hsm;
  }

  static open(dir: string, wrapKeyFile = wrapKeyFileBeside(dir)): SspHsm {
    let j: HsmJson;
    try {
      j = JSON.parse(readFileSync(join(dir, HSM_FILE), 'utf8')) as HsmJson;
    } catch (e) {
      throw new RseError(
        'E_HSM',
        `${dir} is not an SSP HSM (rse ssp hsm init): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        { field: dir },
      );
    }
    if (j?.kind !== 'stm32-ssp-hsm' || !Number.isInteger(j.issued) || !Number.isInteger(j.maxLicenses))
      throw new RseError('E_HSM', `${dir}/${HSM_FILE} is not an SSP HSM state`, { field: HSM_FILE });
    return new SspHsm(dir, j, wrapKeyFile);
  }

  private save(): void {
    writeFileAtomic(join(this.dir, HSM_FILE), `${JSON.stringify(this.state, null, 2)}\n`, { durable: true, secret: true });
  }

  get remaining(): number {
    return Math.max(0, this.state.maxLicenses - this.state.issued);
  }

  info(): {
    issued: number;
    maxLicenses: number;
    remaining: number;
    license: 'live' | 'normal';
    fsblMinVersion: number;
    ledger: HsmJson['ledger'];
  } {
    const s = this.state;
    return {
      issued: s.issued,
      maxLicenses: s.maxLicenses,
      remaining: this.remaining,
      license: s.license,
      fsblMinVersion: s.fsblMinVersion,
      ledger: s.ledger,
    };
  }

  /** Authenticates the chip's certificate, counts, then wraps the OEM key and IV for that chip. */
  issue(certificate: Uint8Array, sessionId?: number): Uint8Array {
    const cert = decodeCertificate(certificate);
    let ca: AsymKey;
    try {
      ca = importRawPublicKey('ecdsa-p256', fromHex(this.state.caPublicKey, 'caPublicKey'));
    } catch {
      throw new RseError('E_HSM', `${this.dir}/${HSM_FILE}: the CA public key is not a P-256 point`, { field: 'caPublicKey' });
    }
    if (!verifyCertificate(cert, ca))
      throw new RseError(
        'E_LICENSE',
        `chip certificate of ${cert.productId} is not signed by the CA this HSM trusts (forged or foreign chip)`,
        { field: 'certificate' },
      );
    if (this.state.issued >= this.state.maxLicenses)
      throw new RseError('E_HSM', `license counter exhausted: ${this.state.issued} of ${this.state.maxLicenses} issued`, {
        field: 'counter',
      });
    const session = this.state.license === 'live' ? sessionId : undefined;
    if (this.state.license === 'live' && session === undefined)
      throw new RseError('E_HSM', 'this HSM issues live licenses: the device sent no session id', { field: 'session' });
    // The secrets first (the wrapping key read once): a wrong key spends nothing.
    const wrap = wrapKeyOf(this.wrapKeyFile, false);
    const oemKey = unwrapSecret(wrap, 'ssp-hsm:oemKey', this.state.oemKey);
    const oemIv = unwrapSecret(wrap, 'ssp-hsm:oemIv', this.state.oemIv);
    // Counted before the license leaves: a lost license is a spent one, never a free one.
    this.state = {
      ...this.state,
      issued: this.state.issued + 1,
      ledger: [
        ...this.state.ledger,
        {
          productId: cert.productId,
          chip: toHex(publicKeyHash(cert.chipPublicKey)).slice(0, 16),
          ...(session === undefined ? {} : { session }),
        },
      ],
    };
    this.save();
    return makeLicense({
      chipPublicKey: cert.chipPublicKey,
      oemKey,
      oemIv,
      fsblMinVersion: this.state.fsblMinVersion,
      ...(session === undefined ? {} : { sessionId: session }),
    });
  }
}

export interface SspStep {
  readonly boot: number;
  readonly stage: 'ROM' | 'FSBL' | 'programmer';
  readonly ok: boolean;
  readonly what: string;
}

/** A Secure Secret Provisioning run: each boot and step, and how it ended. */
export interface SspReport {
  readonly ok: boolean;
  readonly steps: readonly SspStep[];
  /** OTP words programmed by this session. */
  readonly programmed: readonly number[];
  readonly halt?: string;
}

/** What the programmer answers with: the HSM's license and the OEM's payload (380 bytes). */
export type Programmer = (request: { certificate: Uint8Array; sessionId?: number }) => { license: Uint8Array; payload: Uint8Array };

/**
 * Three boots of the SSP FSBL: (1) SSP_REQ and PUBK; (2) the ROM's PUBA and session, the
 * certificate out, the license and payload in, PROV; (3) the ROM's checks and PROA, then the
 * FSBL programs and locks PKH, closes the device, programs and locks RMA and the secrets, sets
 * SSP_SUCCESS. Any refusal happens before the first secret word is programmed.
 */
export function sspProvision(dev: Mp1Device, fsbl: Uint8Array, programmer: Programmer): SspReport {
  const steps: SspStep[] = [];
  const programmed: number[] = [];
  const b = dev.bsec;
  const ctx: BootContext = { cmd: 0 };
  let boot = 0;
  const step = (stage: SspStep['stage'], what: string, ok = true): void => {
    steps.push({ boot, stage, ok, what });
  };
  const stop = (stage: SspStep['stage'], what: string): SspReport => {
    step(stage, what, false);
    dev.save();
    return { ok: false, steps, programmed, halt: what };
  };
  const power = (): string | undefined => {
    boot++;
    const r = romBoot(dev, fsbl);
    if (!r.ok) return r.halt;
    step('ROM', `FSBL-SSP authenticated (auth_status ${r.authStatus})`);
    return undefined;
  };
  const fsblVersion = parseStm32Image(fsbl).header.imageVersion;

  // Boot 1.
  let halt = power();
  if (halt !== undefined) return stop('ROM', halt);
  const ssp = b.fuse(SSP_WORD);
  if (ssp & SSP_SUCCESS) return stop('FSBL', 'SSP_SUCCESS is set: SSP already ran on this chip and never runs again');
  if (b.closed) return stop('FSBL', 'the chip is closed: SSP is not allowed');
  if (!(ssp & SSP_REQ)) {
    b.program(SSP_WORD, ssp | SSP_REQ);
    step('FSBL', `SSP_REQ programmed (OTP ${SSP_WORD} bit 8)`);
  }
  ctx.cmd = SSP_CMD.PUBK;
  step('FSBL', "boot context cmd 'PUBK'; system reset with VDD kept");

  // Boot 2.
  halt = power();
  if (halt !== undefined) return stop('ROM', halt);
  if (ctx.cmd !== SSP_CMD.PUBK) return stop('ROM', 'no PUBK request in the boot context');
  ctx.cmd = SSP_CMD.PUBA;
  ctx.sessionId = newSessionId();
  step('ROM', `chip ECIES key pair ready, 'PUBA', live session 0x${ctx.sessionId.toString(16).padStart(8, '0')}`);
  const certificate = certificateMessage(b, dev.hwSecret);
  step('FSBL', `certificate of ${new TextDecoder().decode(certificate.subarray(0, 8))} sent to the programmer (phase 0xF3)`);
  let answer: { license: Uint8Array; payload: Uint8Array };
  try {
    answer = programmer({ certificate, sessionId: ctx.sessionId });
  } catch (e) {
    if (e instanceof RseError) return stop('programmer', `${e.code}: ${e.message}`);
    throw e;
  }
  step('programmer', `license (${answer.license.length} bytes) and payload (${answer.payload.length} bytes) received`);
  ctx.cmd = SSP_CMD.PROV;
  step('FSBL', "boot context cmd 'PROV'; system reset with VDD kept");

  // Boot 3.
  halt = power();
  if (halt !== undefined) return stop('ROM', halt);
  let unwrapped: ReturnType<typeof romUnwrap>;
  try {
    unwrapped = romUnwrap({
      hwSecret: dev.hwSecret,
      license: answer.license,
      payload: answer.payload,
      fsblVersion,
      ...(ctx.sessionId === undefined ? {} : { sessionId: ctx.sessionId }),
    });
  } catch (e) {
    if (!(e instanceof RseError)) throw e;
    ctx.cmd = 0;
    return stop('ROM', `provisioning refused, buffers wiped: ${e.code}: ${e.message}`);
  }
  ctx.cmd = SSP_CMD.PROA;
  step('ROM', "license and payload authenticated, secrets decrypted in place, 'PROA'");
  const { rma, words } = secretWords(unwrapped.secrets);
  unwrapped.secrets.fill(0);
  // (a) Everything SSP writes must still be blank.
  const targets = [...Array.from({ length: 8 }, (_, i) => OTP_WORD.PKH + i), OTP_WORD.RMA, ...words.map((w) => w.word)];
  const used = targets.filter((n) => b.fuse(n) !== 0 || b.isPermanentlyLocked(n));
  if (used.length > 0) return stop('FSBL', `OTP words ${used.join(', ')} are already programmed or locked: refusing to provision`);
  // (b) PKH, each word locked.
  for (const [i, w] of pkhOtpWords(publicKeyHash(unwrapped.oemPublicKey)).entries()) {
    b.program(OTP_WORD.PKH + i, w);
    b.lockPermanently(OTP_WORD.PKH + i);
    programmed.push(OTP_WORD.PKH + i);
  }
  step('FSBL', 'PKH = SHA-256(OEM public key) programmed in OTP 24..31, each word locked');
  // (c) Closed.
  b.program(OTP_WORD.CFG0, b.fuse(OTP_WORD.CFG0) | CFG0_CLOSED);
  programmed.push(OTP_WORD.CFG0);
  step('FSBL', 'CFG0 closed bit programmed');
  // (d) RMA, read back, locked.
  b.program(OTP_WORD.RMA, rma & RMA_MASK);
  if (b.fuse(OTP_WORD.RMA) !== (rma & RMA_MASK)) return stop('FSBL', 'RMA word read back differs');
  b.lockPermanently(OTP_WORD.RMA);
  programmed.push(OTP_WORD.RMA);
  step('FSBL', 'RMA password programmed (30 bits), read back, locked');
  // (e) Secrets, each locked.
  for (const w of words) {
    b.program(w.word, w.value);
    b.lockPermanently(w.word);
    programmed.push(w.word);
  }
  step('FSBL', `${words.length} OEM secret words programmed from OTP ${OTP_WORD.OEM_SECRETS}, each locked (zero words skipped)`);
  // (f) Shadows cleared, buffers wiped; (g) done.
  for (const n of programmed) if (n !== OTP_WORD.CFG0) b.writeShadow(n, 0);
  b.program(SSP_WORD, b.fuse(SSP_WORD) | SSP_SUCCESS);
  step('FSBL', 'shadows cleared, buffers wiped, SSP_SUCCESS programmed; system reset');
  b.reset();
  dev.save();
  return { ok: true, steps, programmed };
}
