/**
 * Profile `rse-2.1` (TF-M 2.1 + TF-A v2.11), the default. For now: how RSE signs host images.
 * @module
 */

/**
 * The imgtool flags of the RSE platform documentation for host images
 * (`TrustedFirmware-M/trusted-firmware-m:docs/platform/arm/rse/readme.rst`), without the key,
 * the slot size and the load address: the first host image loads at 0x70000000, each next one
 * 0x1000000 higher, in 0x80000-byte slots.
 */
export const HOST_IMAGE_SIGN_FLAGS: readonly string[] = [
  '--public-key-format',
  'full',
  '--max-align',
  '8',
  '--align',
  '1',
  '-v',
  '0.0.1',
  '-s',
  '1',
  '-H',
  '0x2000',
  '--pad-header',
  '--pad',
];

export const HOST_IMAGE_SLOT_SIZE = 0x80000;
export const FIRST_HOST_IMAGE_LOAD_ADDR = 0x70000000;
