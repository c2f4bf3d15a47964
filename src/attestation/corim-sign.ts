/**
 * Signed CoRIMs (draft-ietf-rats-corim §4.2): the unsigned CoRIM (tag 501) as the payload of a
 * tagged COSE_Sign1 whose protected header carries the algorithm, the content type
 * `application/rim+cbor`, optionally the signer's key id, and the CoRIM meta (the signer's name
 * and URI, and a validity window) as an embedded CBOR map. Signed with an EC key in a file or a
 * PKCS#11 token; checked against a public key, the window included.
 * @module
 */
import { encode } from 'cbor2';
import { bytesOf, decodeStrict, Tag } from '../cose/cbor.ts';
import type { TokenKey } from '../cose/keys.ts';
import { COSE_SIGN1_TAG, type CoseMessage, createCose, decodeCose, verifyCose } from '../cose/message.ts';
import { RseError } from '../lib/errors.ts';

/** The content type a signed CoRIM's protected header names (label 3). */
export const SIGNED_CORIM_CONTENT_TYPE = 'application/rim+cbor';
/** The content type earlier drafts (and Veraison's cocli before 2024) wrote. */
const LEGACY_CONTENT_TYPE = 'application/corim-unsigned+cbor';

/** Who signed a CoRIM and for how long the signature holds (corim-meta-map). */
export interface CorimMeta {
  /** signer-name (0). */
  readonly signer: string;
  /** signer-uri (1), a URI (tag 32). */
  readonly signerUri?: string;
  /** signature-validity (1): not-before (0) and not-after (1), epoch times (tag 1). */
  readonly notBefore?: Date;
  readonly notAfter?: Date;
}

/** A signed CoRIM, decoded (not yet verified). */
export interface SignedCorim {
  readonly cose: CoseMessage;
  readonly contentType: string | undefined;
  readonly meta: CorimMeta | undefined;
  readonly kid: Uint8Array | undefined;
  /** The unsigned CoRIM it carries (tag 501). */
  readonly corim: Uint8Array;
}

function bad(msg: string, field = 'signed-corim'): never {
  throw new RseError('E_CORIM', msg, { field });
}

const epoch = (d: Date): Tag => new Tag(1, Math.floor(d.getTime() / 1000));

function encodeMeta(m: CorimMeta): Uint8Array {
  const signer = new Map<number, unknown>([[0, m.signer]]);
  if (m.signerUri !== undefined) signer.set(1, new Tag(32, m.signerUri));
  const meta = new Map<number, unknown>([[0, signer]]);
  if (m.notBefore !== undefined || m.notAfter !== undefined) {
    if (m.notAfter === undefined) bad('a signature validity needs its not-after time', 'not-after');
    const v = new Map<number, unknown>();
    if (m.notBefore !== undefined) v.set(0, epoch(m.notBefore));
    v.set(1, epoch(m.notAfter));
    meta.set(1, v);
  }
  return encode(meta);
}

/**
 * Signs an unsigned CoRIM (tag 501) with an EC key (P-256, P-384 or P-521; in a file or a token):
 * a tagged COSE_Sign1 with {alg, content type, kid?, meta} protected and the CoRIM as payload.
 */
export function signCorim(unsigned: Uint8Array, key: TokenKey, meta: CorimMeta, kid?: Uint8Array): Uint8Array {
  const v = decodeStrict(unsigned, 'corim');
  if (!(v instanceof Tag) || v.tag !== 501) bad('only an unsigned CoRIM (tag 501) can be signed', 'corim');
  if (key.kind !== 'ec') throw new RseError('E_KEY', 'a CoRIM is signed with an EC key (ES256, ES384, ES512)', { field: 'key' });
  const headers = new Map<number, unknown>([[3, SIGNED_CORIM_CONTENT_TYPE]]);
  if (kid !== undefined) headers.set(4, kid);
  headers.set(8, encodeMeta(meta));
  return createCose(unsigned, key, { headers });
}

function timeOf(v: unknown, field: string): Date {
  const t = v instanceof Tag && v.tag === 1 ? v.contents : v;
  if (typeof t === 'number' && Number.isFinite(t)) return new Date(t * 1000);
  if (typeof t === 'bigint' && t >= -(2n ** 53n) && t < 2n ** 53n) return new Date(Number(t) * 1000);
  return bad(`${field} must be an epoch time (tag 1)`, field);
}

function decodeMeta(bytes: Uint8Array): CorimMeta {
  const m = decodeStrict(bytes, 'corim-meta');
  if (!(m instanceof Map)) bad('corim-meta must be a map', 'corim-meta');
  const s = m.get(0);
  if (!(s instanceof Map)) bad('corim-meta.signer must be a map', 'corim-meta.signer');
  const name = s.get(0);
  if (typeof name !== 'string') bad('corim-meta.signer.signer-name must be text', 'corim-meta.signer');
  const uriV = s.get(1);
  const uri = uriV instanceof Tag && uriV.tag === 32 ? uriV.contents : uriV;
  if (uri !== undefined && typeof uri !== 'string') bad('corim-meta.signer.signer-uri must be a URI', 'corim-meta.signer');
  const out: { -readonly [K in keyof CorimMeta]: CorimMeta[K] } = { signer: name };
  if (uri !== undefined) out.signerUri = uri;
  const v = m.get(1);
  if (v !== undefined) {
    if (!(v instanceof Map)) bad('corim-meta.signature-validity must be a map', 'corim-meta.validity');
    if (v.get(0) !== undefined) out.notBefore = timeOf(v.get(0), 'not-before');
    out.notAfter = timeOf(v.get(1), 'not-after');
  }
  return out;
}

/** Whether these bytes are a COSE_Sign1 (tag 18) rather than an unsigned CoRIM. */
export function isSignedCorim(bytes: Uint8Array): boolean {
  // 0xd2 is tag 18 in one byte; anything else is not a tagged COSE_Sign1.
  return bytes[0] === 0xd2;
}

/** Decodes a signed CoRIM: its header parameters and the unsigned CoRIM inside (nothing verified yet). */
export function decodeSignedCorim(bytes: Uint8Array): SignedCorim {
  const v = decodeStrict(bytes, 'signed-corim');
  if (!(v instanceof Tag) || v.tag !== COSE_SIGN1_TAG) bad('a signed CoRIM is a tagged COSE_Sign1 (18)');
  const cose = decodeCose(v, 'signed-corim');
  const hdr = cose.protectedHeader.length === 0 ? new Map() : decodeStrict(cose.protectedHeader, 'signed-corim.protected');
  if (!(hdr instanceof Map)) bad('the protected header must be a map', 'signed-corim.protected');
  const ct = hdr.get(3);
  if (ct !== undefined && typeof ct !== 'string') bad('content-type (3) must be text', 'signed-corim.protected');
  if (ct !== undefined && ct !== SIGNED_CORIM_CONTENT_TYPE && ct !== LEGACY_CONTENT_TYPE)
    bad(`content-type ${ct} is not ${SIGNED_CORIM_CONTENT_TYPE}`, 'signed-corim.protected');
  const kidV = hdr.get(4) ?? cose.unprotected.get(4);
  const kid = kidV === undefined ? undefined : (bytesOf(kidV) ?? bad('kid (4) must be bytes', 'signed-corim.protected'));
  const metaV = hdr.get(8);
  const metaBytes = metaV === undefined ? undefined : (bytesOf(metaV) ?? bad('corim-meta (8) must be bytes', 'signed-corim.protected'));
  const inner = decodeStrict(cose.payload, 'corim');
  if (!(inner instanceof Tag) || inner.tag !== 501) bad('the payload of a signed CoRIM is an unsigned CoRIM (tag 501)', 'corim');
  return {
    cose,
    contentType: ct,
    meta: metaBytes === undefined ? undefined : decodeMeta(metaBytes),
    kid,
    corim: cose.payload,
  };
}

/**
 * Verifies a signed CoRIM with the signer's public key and, when the meta has one, its validity
 * window at `now`; returns it decoded. `E_SIGNATURE` when the signature does not verify, `E_CORIM`
 * when it is malformed, not yet valid or expired.
 */
export function verifySignedCorim(bytes: Uint8Array, key: TokenKey, now: Date = new Date()): SignedCorim {
  const s = decodeSignedCorim(bytes);
  verifyCose(s.cose, key, {}, 'signed-corim');
  checkValidity(s, now);
  return s;
}

/** E_CORIM when `now` is outside the signature's validity window (when the meta has one). */
function checkValidity(s: SignedCorim, now: Date): void {
  const m = s.meta;
  if (m?.notBefore !== undefined && now < m.notBefore)
    bad(`the CoRIM's signature is valid from ${m.notBefore.toISOString()}, not yet`, 'corim-meta.validity');
  if (m?.notAfter !== undefined && now > m.notAfter)
    bad(`the CoRIM's signature expired at ${m.notAfter.toISOString()}`, 'corim-meta.validity');
}

/** A CoRIM's signature by one of `signers`, within its validity; E_CORIM / E_SIGNATURE otherwise. */
export function checkCorimSigners(body: Uint8Array, signers: readonly TokenKey[], at: Date): void {
  if (!isSignedCorim(body)) throw new RseError('E_CORIM', 'this verifier takes signed CoRIMs only (COSE_Sign1 by a trusted signer)');
  const s = decodeSignedCorim(body);
  let last: unknown;
  for (const k of signers) {
    try {
      verifyCose(s.cose, k, {}, 'signed-corim');
      checkValidity(s, at);
      return;
    } catch (e) {
      // Another signer's key (E_SIGNATURE) or curve (E_COSE): try the next; an expired CoRIM is refused.
      if (!(e instanceof RseError) || e.code === 'E_CORIM') throw e;
      last = e;
    }
  }
  throw new RseError('E_SIGNATURE', 'the CoRIM is not signed by a trusted CoRIM signer', { field: 'signed-corim', cause: last });
}
