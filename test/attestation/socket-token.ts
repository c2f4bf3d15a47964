/** A device's attestation token over a Unix socket, as TF-A asks for it: for the endorsement and verifier tests. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { RseClient } from '../../src/comms/client.ts';
import { RseServer } from '../../src/comms/server.ts';
import type { Device } from '../../src/device/device.ts';
import { PSA } from '../../src/services/psa.ts';
import { tempDir } from '../helpers.ts';

export const CHALLENGE = new Uint8Array(48).map((_, i) => (i * 37 + 5) & 0xff);

/** Boots the device behind a Unix socket and asks for a token, as TF-A would. */
export async function tokenOverSocket(dev: Device): Promise<Uint8Array> {
  const server = new RseServer(dev);
  const report = server.boot();
  assert.ok(report.ok, `the device boots: ${report.halt?.reason}`);
  const path = await server.listen({ path: join(tempDir(), 'rse.sock') });
  // TF-A v2.10 packs the control word as RSS 1.7 reads it; v2.11 as RSE 2.1 does.
  const client = await RseClient.connect({ path }, { packing: dev.profile.runtime.commsPacking });
  try {
    const r = await client.attestationToken(CHALLENGE);
    assert.equal(r.status, PSA.SUCCESS);
    return r.outVecs[0] as Uint8Array;
  } finally {
    client.close();
    await server.close();
  }
}
