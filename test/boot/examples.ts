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
import { Device, MemoryStore } from '../../src/device/device.ts';
import { buildFlash } from '../../src/flash/build.ts';
import type { BuildIo, BuildResult } from '../../src/flash/images.ts';
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
    // Message provisioning: the ROM holds the example's provisioning key, which signs the messages.
    const key = loadKey(read('../keys/root-EC-P256.pem'));
    // The example is a MCUBOOT_IMAGE_BINDING build (its images carry the placeholders).
    dev = createDevice(store, { profile, imageBinding: true, files: { [ROM_ROTPK_FILE.TCI]: rawPublicKey(key).subarray(1) } });
    const base = { tpMode: 'TCI' as const, auth: { kind: 'ecdsa' as const, key }, krtl: new Uint8Array(32), iv: new Uint8Array(8) };
    const cm = cmValues23(values, read);
    const dm = dmValues23(values, read);
    r = provisionRun(dev, {
      messages: [
        buildProvisioningMessage({ ...base, flow: 'cm', cm: cm.values, cmSecrets: cm.secrets }),
        buildProvisioningMessage({ ...base, flow: 'dm', dm: dm.values, dmSecrets: dm.secrets }),
      ],
    });
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
