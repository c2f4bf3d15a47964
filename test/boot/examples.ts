/**
 * The example platforms as test fixtures: a private copy of `examples/` (signing BL2 moves the
 * LMS key's state), each profile built, a device provisioned from the example values with the
 * host flash loaded. Tests clone the provisioned store and attack the copy.
 */
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { lmsSignerPool } from '../../src/bl1/lms-key.ts';
import { createDevice, provisionFromValues, provisionRun } from '../../src/boot/power-on.ts';
import { loadKey, rawPublicKey } from '../../src/crypto/index.ts';
import { type CreateOptions, Device, MemoryStore } from '../../src/device/device.ts';
import { findInHostFlash } from '../../src/device/host-flash.ts';
import { buildFlash } from '../../src/flash/build.ts';
import type { BuildIo, BuildResult } from '../../src/flash/images.ts';
import { readU16le, readU32le } from '../../src/lib/bytes.ts';
import { fipEntryUuid } from '../../src/profiles/fip-table.ts';
import { buildProvisioningMessage } from '../../src/provisioning/messages-build.ts';
import { ROM_ROTPK_FILE } from '../../src/provisioning/messages-rom.ts';
import { cmValues23, dmValues23 } from '../../src/provisioning/values-2.3-yaml.ts';
/** The built-in RSE profiles the examples cover. */
export type RseProfileName = 'rse-2.1' | 'rse-2.3' | 'rss-1.7';

import { tempDir } from '../helpers.ts';

/** A private copy of the examples tree. */
export function examplesCopy(): string {
  const dir = join(tempDir(), 'examples');
  cpSync(new URL('../../examples', import.meta.url), dir, { recursive: true });
  return dir;
}

/** Build I/O rooted at `dir`, signing BL2 with the LMS keys found there. */
export function exampleIo(dir: string): BuildIo {
  const det = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 29 + 7) & 0xff);
  const lms = lmsSignerPool(det);
  return {
    readFile: (p) => new Uint8Array(readFileSync(join(dir, p))),
    readKey: (p) => loadKey(new Uint8Array(readFileSync(join(dir, p)))),
    lmsSign: (p, msg) => lms(join(dir, p), msg),
    random: det,
  };
}

export type Description = Record<string, unknown> & { images: Record<string, unknown>[] };

export interface ExampleFixture {
  readonly profile: RseProfileName;
  /** The examples copy and the profile's directory in it. */
  readonly root: string;
  readonly dir: string;
  readonly description: Description;
  readonly build: BuildResult;
  /** Provisioned (LCS SE), host flash loaded, never booted. */
  readonly store: MemoryStore;
}

/** The example directories: one per profile, and RSE 2.1 built with RSE_XIP. */
export type ExampleName = RseProfileName | 'rse-2.1-xip';

const fixtures = new Map<ExampleName, ExampleFixture>();

/** Builds the example of `profile` (with `mutate` applied to a clone of its description). */
export function buildExample(fx: { dir: string; description: Description }, mutate?: (d: Description) => void): BuildResult {
  const d = structuredClone(fx.description);
  mutate?.(d);
  return buildFlash(d, exampleIo(fx.dir));
}

/** An example, built and provisioned once per test file. */
export function exampleFixture(example: ExampleName): ExampleFixture {
  const known = fixtures.get(example);
  if (known !== undefined) return known;
  const xip = example === 'rse-2.1-xip';
  const profile: RseProfileName = xip ? 'rse-2.1' : example;
  const root = examplesCopy();
  const dir = join(root, example);
  const description = parse(readFileSync(join(dir, 'platform.yaml'), 'utf8')) as Description;
  const build = buildFlash(description, exampleIo(dir));
  const store = new MemoryStore();
  const values = parse(readFileSync(join(dir, 'provisioning.yaml'), 'utf8')) as unknown;
  const read = (p: string): Uint8Array => new Uint8Array(readFileSync(join(dir, p)));
  let dev: Device;
  let r: ReturnType<typeof provisionFromValues>;
  if (profile === 'rse-2.3') {
    ({ dev, r } = provision23(dir, store, values));
  } else {
    dev = createDevice(store, { profile, xip });
    r = provisionFromValues(dev, values, read);
  }
  if (!r.ok) throw new Error(`provisioning the ${profile} example failed: ${dev.json.lastBoot}`);
  store.write('flash.bin', build.hostFlash as Uint8Array);
  const fx = { profile, root, dir, description, build, store };
  fixtures.set(example, fx);
  return fx;
}

/**
 * The rse-2.3 example's provisioning: a device whose ROM holds the example's provisioning key (a
 * binding build, its images carry the placeholders, plus `create`), provisioned with the CM and DM
 * messages of `values` (the example's provisioning.yaml, possibly altered).
 */
export function provision23(
  dir: string,
  store: MemoryStore,
  values: unknown,
  create: Partial<CreateOptions> = {},
): { dev: Device; r: ReturnType<typeof provisionRun> } {
  const read = (p: string): Uint8Array => new Uint8Array(readFileSync(join(dir, p)));
  const key = loadKey(read('../keys/root-EC-P256.pem'));
  const dev = createDevice(store, {
    profile: 'rse-2.3',
    imageBinding: true,
    ...create,
    files: { [ROM_ROTPK_FILE.TCI]: rawPublicKey(key).subarray(1) },
  });
  const base = { tpMode: 'TCI' as const, auth: { kind: 'ecdsa' as const, key }, krtl: new Uint8Array(32), iv: new Uint8Array(8) };
  const cm = cmValues23(values, read);
  const dm = dmValues23(values, read);
  const r = provisionRun(dev, {
    messages: [
      buildProvisioningMessage({ ...base, flow: 'cm', cm: cm.values, cmSecrets: cm.secrets }),
      buildProvisioningMessage({ ...base, flow: 'dm', dm: dm.values, dmSecrets: dm.secrets }),
    ],
  });
  return { dev, r };
}

/** The example's provisioning values, parsed (a fresh copy to alter). */
export function exampleValues(fx: ExampleFixture): Record<string, Record<string, unknown>> {
  return parse(readFileSync(join(fx.dir, 'provisioning.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
}

/** A device from a clone of the fixture, with `flash` instead of the example's host flash. */
export function deviceOf(fx: ExampleFixture, flash?: Uint8Array): Device {
  const store = fx.store.clone();
  if (flash !== undefined) store.write('flash.bin', flash);
  return Device.open(store);
}

/** The example's built image bytes by name. */
export function imageOf(build: BuildResult, name: string): Uint8Array {
  const img = build.images.find((i) => i.name === name);
  if (img === undefined) throw new Error(`no image ${name}`);
  return img.bytes;
}

const ENTRIES = ['rse-s', 'rse-ns', 'rse-ap-bl1', 'rse-scp-bl1'] as const;

/** Flash offsets of BL2 image `index` (0 S, 1 NS, 2 AP BL1, 3 SCP BL1) in FIP_A (the primary) and FIP_B. */
export function slotsOf(flash: Uint8Array, index: number): [number, number] {
  const [a, b] = findInHostFlash(flash, fipEntryUuid(ENTRIES[index] as string));
  if (a?.ok !== true || b?.ok !== true) throw new Error(`image ${index} is not in both FIPs`);
  return [a.offset, b.offset];
}

/** Absolute flash offset of the value of the first TLV `type` after `skip` others of that type, in the image at `img`. */
export function tlvAt(flash: Uint8Array, img: number, type: number, area: 'protected' | 'unprotected', skip = 0): number {
  const hdrSize = readU16le(flash, img + 8);
  const protSize = readU16le(flash, img + 10);
  const imgSize = readU32le(flash, img + 12);
  const start = img + hdrSize + imgSize + (area === 'protected' ? 0 : protSize);
  const end = start + readU16le(flash, start + 2);
  let seen = 0;
  for (let cur = start + 4; cur + 4 <= end; cur += 4 + readU16le(flash, cur + 2))
    if (readU16le(flash, cur) === type && seen++ === skip) return cur + 4;
  throw new Error(`no TLV 0x${type.toString(16)}`);
}

/**
 * Python (`cryptography`) that reads {"huk": hex, …} from stdin into `inp` and derives `key`, the
 * BL2 image-binding key, from the HUK alone: SP 800-108 counter mode with AES-CMAC as TF-M 2.3's
 * BL1 derives KMU keys (L in bits, big-endian, K0 hardening). Tests append their own checks.
 */
export const PYTHON_BINDING_KEY = String.raw`
import json, struct, sys
from cryptography.hazmat.primitives.cmac import CMAC
from cryptography.hazmat.primitives.ciphers import algorithms
def cmac(k, m):
    c = CMAC(algorithms.AES(k)); c.update(m); return c.finalize()
inp = json.load(sys.stdin)
huk = bytes.fromhex(inp["huk"])
fixed = b"BL1_2_IMAGE_BINDING_KEY_DERIVATION\0" + b"\0" + struct.pack(">I", 256)
k0 = cmac(huk, fixed)
key = b"".join(cmac(huk, struct.pack(">I", i) + fixed + k0) for i in (1, 2))
`;
