/**
 * The BOOT_RECORD TLV: a CBOR map of PSA software-component claims, in imgtool's fixed key order
 * (type, version, signer ID, measurement description, measurement value), with the measurement
 * value zeroed: the bootloader writes the image hash over its last bytes.
 * @module
 */
import { concatBytes } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';

function cborHead(major: number, n: number): Uint8Array {
  if (n < 24) return new Uint8Array([(major << 5) | n]);
  if (n < 0x100) return new Uint8Array([(major << 5) | 24, n]);
  if (n < 0x10000) return new Uint8Array([(major << 5) | 25, n >> 8, n & 0xff]);
  throw new RseError('E_ARGUMENT', `CBOR item of ${n} bytes is too long for a boot record`);
}

const text = (s: string): Uint8Array => {
  const b = new TextEncoder().encode(s);
  return concatBytes([cborHead(3, b.length), b]);
};
const bstr = (b: Uint8Array): Uint8Array => concatBytes([cborHead(2, b.length), b]);
const uint = (n: number): Uint8Array => cborHead(0, n);

/** PSA claim keys used inside a boot record. */
export const SW_COMPONENT = { TYPE: 1, MEASUREMENT_VALUE: 2, VERSION: 4, SIGNER_ID: 5, MEASUREMENT_DESCRIPTION: 6 } as const;

export interface BootRecordFields {
  readonly swType: string;
  /** `maj.min.rev` without the build number. */
  readonly version: string;
  readonly signerId: Uint8Array;
  /** `SHA256`, `SHA384` or `SHA512`. */
  readonly measurementDescription: string;
  readonly measurementValue: Uint8Array;
}

export function encodeBootRecord(f: BootRecordFields): Uint8Array {
  return concatBytes([
    new Uint8Array([0xa5]),
    uint(SW_COMPONENT.TYPE),
    text(f.swType),
    uint(SW_COMPONENT.VERSION),
    text(f.version),
    uint(SW_COMPONENT.SIGNER_ID),
    bstr(f.signerId),
    uint(SW_COMPONENT.MEASUREMENT_DESCRIPTION),
    text(f.measurementDescription),
    uint(SW_COMPONENT.MEASUREMENT_VALUE),
    bstr(f.measurementValue),
  ]);
}
