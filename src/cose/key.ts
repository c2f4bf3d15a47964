/**
 * COSE_Key for EC2 public keys as t_cose encodes them (`t_cose_key.c`): the map
 * `{1: 2, -1: crv, -2: x, -3: y}` in that key order, definite lengths, x and y as full-width byte
 * strings. TF-M hashes this form for the instance id and the delegated attestation key binding
 * (since Sep 2024), and TF-RMM puts it in the realm token's public-key claim.
 * @module
 */
import { RseError } from '../lib/errors.ts';
import { bstrHead } from './sign1.ts';

/** COSE curve ids (RFC 9053): P-256 1, P-384 2, P-521 3, by coordinate size. */
const CRV_BY_SIZE: Readonly<Record<number, number>> = { 32: 1, 48: 2, 66: 3 };

/** The COSE_Key of an uncompressed SEC1 point 0x04 ‖ X ‖ Y. */
export function coseKeyEc2(sec1: Uint8Array): Uint8Array {
  const n = (sec1.length - 1) / 2;
  const crv = CRV_BY_SIZE[n];
  if (sec1[0] !== 0x04 || crv === undefined)
    throw new RseError('E_COSE', `not an uncompressed P-256/384/521 point (${sec1.length} bytes)`, { field: 'cose_key' });
  const head = bstrHead(n);
  const out = new Uint8Array(5 + 2 * (1 + head.length + n));
  // a4: map(4); 01 02: kty EC2; 20 crv: -1 = crv; 21 / 22: -2 = x, -3 = y.
  out.set([0xa4, 0x01, 0x02, 0x20, crv], 0);
  let at = 5;
  for (const [label, coord] of [
    [0x21, sec1.subarray(1, 1 + n)],
    [0x22, sec1.subarray(1 + n)],
  ] as const) {
    out[at++] = label;
    out.set(head, at);
    at += head.length;
    out.set(coord, at);
    at += n;
  }
  return out;
}
