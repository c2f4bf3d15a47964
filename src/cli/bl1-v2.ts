/**
 * `rse bl1 sign|info` for profiles whose BL1_2 loads TF-M 2.2+'s v2 image (`rse-2.3`): CM and DM
 * signers (LMS from a stateful key, or ECDSA P-256/P-384 signing deterministically), optional
 * encryption under the KCE_CM-derived key and binding-tag slot, as `create_bl2_img.py` makes it.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { formatBl1Version, parseBl1Version } from '../bl1/image.ts';
import { type Bl1V2Signer, bl1V2Offsets, checkBl1ImageV2, parseBl1ImageV2, signBl1ImageV2 } from '../bl1/image-v2.ts';
import { LmsSigner } from '../bl1/lms-key.ts';
import { hash, loadKey } from '../crypto/index.ts';
import { encodeLmsPublicKey } from '../crypto/lms.ts';
import { writeFileAtomic } from '../lib/atomic.ts';
import { readU32be } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { hex0x, toHex } from '../lib/hex.ts';
import type { Bl1ImageV2Config } from '../profiles/types.ts';
import { cliStatus, hexOrFileBytes, io, parseInteger, printJson, readInput } from './common.ts';

/** The options of `rse bl1 sign` a v2 image uses. */
export interface V2SignOptions {
  readonly key: string;
  readonly dmKey?: string;
  readonly encryptKey?: string;
  readonly iv?: string;
  readonly plain?: boolean;
  readonly binding?: boolean;
  readonly version: string;
  readonly securityCounter: string;
  readonly index?: string;
  readonly json?: boolean;
}

/** The image shape the options select from the profile's. */
export function v2Shape(base: Bl1ImageV2Config, o: { dmKey?: string; plain?: boolean; binding?: boolean }): Bl1ImageV2Config {
  return { ...base, signers: o.dmKey === undefined ? 1 : 2, encryption: o.plain !== true, binding: o.binding === true };
}

/** A signer from a key file: an LMS `.prv` (stateful, next leaf) or an ECDSA PEM. */
function signerOf(path: string, index: string | undefined, leaves: number[]): Bl1V2Signer {
  if (path.endsWith('.prv') || !/\.(pem|der|key)$/.test(path)) {
    const s = LmsSigner.open(path);
    return {
      alg: 'lms',
      sign: (msg) => {
        const r = s.sign(msg, (n) => new Uint8Array(randomBytes(n)), index === undefined ? undefined : parseInteger(index));
        leaves.push(r.q);
        return { signature: r.signature, publicKey: encodeLmsPublicKey(s.publicKey) };
      },
    };
  }
  const key = loadKey(readInput(path, 'signing key'));
  if (key.type !== 'ecdsa-p256' && key.type !== 'ecdsa-p384')
    throw new RseError('E_KEY', `${path} is a ${key.type} key; BL1_2 verifies LMS or ECDSA P-256/P-384`, { field: 'key' });
  return { alg: 'ecdsa', key };
}

/** `rse bl1 sign` of a v2 image. */
export function signV2(infile: string, outfile: string, base: Bl1ImageV2Config, o: V2SignOptions): void {
  const shape = v2Shape(base, o);
  const leaves: number[] = [];
  const signers = [o.key, ...(o.dmKey === undefined ? [] : [o.dmKey])].map((k) => signerOf(k, o.index, leaves));
  if (shape.encryption && o.encryptKey === undefined)
    throw new RseError('E_USAGE', 'an encrypted image needs --encrypt-key (the KCE_CM the device holds), or --plain', {
      field: '--encrypt-key',
    });
  const iv = o.iv === undefined ? new Uint8Array(randomBytes(16)) : readInput(o.iv, 'IV');
  if (iv.length !== 16) throw new RseError('E_ARGUMENT', `--iv: the CTR IV is 16 bytes, got ${iv.length}`, { field: '--iv' });
  const code = readInput(infile, 'BL2 binary');
  const max = shape.partitionSize - bl1V2Offsets(shape).code;
  if (code.length > max) throw new RseError('E_SIZE', `BL2 is ${code.length} bytes; the image holds ${max}`, { field: 'infile' });
  const image = signBl1ImageV2(shape, {
    code,
    version: parseBl1Version(o.version),
    securityCounter: parseInteger(o.securityCounter),
    signers,
    ...(shape.encryption ? { encryptionKey: hexOrFileBytes(o.encryptKey as string, 32, '--encrypt-key'), iv } : {}),
  });
  writeFileAtomic(outfile, image, { durable: false });
  const out = { output: outfile, size: image.length, signers: signers.map((s) => s.alg), lmsLeaves: leaves, encrypted: shape.encryption };
  if (o.json === true) printJson(out);
  else
    io.out(
      `${outfile}: ${hex0x(image.length)} bytes, ${out.signers.join(' + ')} signer(s)${leaves.length > 0 ? `, LMS leaf ${leaves.join(', ')}` : ''}${shape.encryption ? ', encrypted' : ''}\n`,
    );
}

/** `rse bl1 info` of a v2 image; with --encrypt-key and --rotpk-hash, BL1_2's checks. */
export function infoV2(
  file: string,
  base: Bl1ImageV2Config,
  o: { plain?: boolean; binding?: boolean; signers?: string; encryptKey?: string; json?: boolean; verify?: boolean },
): void {
  const shape = { ...v2Shape(base, o), ...(o.signers === undefined ? {} : { signers: parseInteger(o.signers) }) };
  const b = readInput(file, 'BL1 image');
  const h = parseBl1ImageV2(shape, b, file);
  const out: Record<string, unknown> = {
    size: b.length,
    ...(h.iv === undefined ? {} : { iv: toHex(h.iv) }),
    version: formatBl1Version(h.version),
    securityCounter: h.securityCounter,
    signers: h.sigs.map((s) => ({
      rotpk: s.rotpk.length === 56 ? 'LMS' : `DER ${s.rotpk.length} bytes`,
      rotpkHash: toHex(hash('sha256', s.rotpk)),
      signatureBytes: s.signature.length,
      ...(s.rotpk.length === 56 ? { lmsLeaf: readU32be(s.signature, 0) } : {}),
    })),
  };
  if (o.verify === true) {
    if (shape.encryption && o.encryptKey === undefined) throw new RseError('E_USAGE', '--verify of an encrypted image needs --encrypt-key');
    const trust = h.sigs.map((s) => ({ rotpkHash: hash('sha256', s.rotpk), policy: 'required' as const }));
    const r = checkBl1ImageV2(shape, b, trust, o.encryptKey === undefined ? undefined : readInput(o.encryptKey, 'BL2 encryption key'));
    out.checks = r.checks;
    out.ok = r.ok;
    if (r.protectedValues !== undefined) out.measurement = toHex(hash('sha256', r.protectedValues));
    if (!r.ok) cliStatus.code = 1;
  }
  if (o.json === true) printJson(out);
  else for (const [k, v] of Object.entries(out)) io.out(`${k.padEnd(16)}${typeof v === 'object' ? JSON.stringify(v) : String(v)}\n`);
}
