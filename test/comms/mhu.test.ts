/** MHU channel framing: the rounds TF-A's MHU wrappers make, the receiver, and calls over the socket in rounds. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { RseClient } from '../../src/comms/client.ts';
import { encodeRound, MHU_DOORBELL, MhuReceiver, mhuRounds } from '../../src/comms/mhu.ts';
import { RseServer } from '../../src/comms/server.ts';
import { tokenKeyOf } from '../../src/cose/keys.ts';
import { decodeCose, verifyCose } from '../../src/cose/message.ts';
import { PSA } from '../../src/services/psa.ts';
import { deviceOf, exampleFixture } from '../boot/examples.ts';
import { tempDir } from '../helpers.ts';

test('rounds: length then words in channels 0..N-2 (the first round from channel 1), doorbell 1234, zero padding', () => {
  const msg = Uint8Array.from({ length: 10 }, (_, i) => i + 1);
  const r = mhuRounds(msg, 4);
  assert.deepEqual(
    r.map((x) => [...x]),
    [
      [10, 0x04030201, 0x08070605, MHU_DOORBELL],
      [0x0a09, 0, 0, MHU_DOORBELL],
    ],
  );
  // A message that ends exactly on a round boundary needs no extra round.
  assert.equal(mhuRounds(new Uint8Array(8), 4).length, 1);
  assert.equal(mhuRounds(new Uint8Array(0), 2).length, 1);
  assert.throws(() => mhuRounds(msg, 1), { code: 'E_USAGE' });
});

test('rounds and the receiver agree for any message and channel count; the round count is what the drivers send', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), fc.integer({ min: 2, max: 40 }), (msg, n) => {
      const rounds = mhuRounds(msg, n);
      const words = Math.ceil(msg.length / 4);
      assert.equal(rounds.length, 1 + Math.max(0, Math.ceil((words - (n - 2)) / (n - 1))));
      const rx = new MhuReceiver(n, 4096);
      let out: Uint8Array | undefined;
      rounds.forEach((r, i) => {
        assert.equal(r[n - 1], MHU_DOORBELL);
        out = rx.push(encodeRound(r));
        assert.equal(out === undefined, i < rounds.length - 1);
      });
      assert.deepEqual(out, msg);
    }),
    { numRuns: 300 },
  );
});

test('the receiver refuses a message over its buffer, a round without the doorbell, a round of the wrong size', () => {
  const rx = new MhuReceiver(4, 16);
  assert.throws(() => rx.push(encodeRound(mhuRounds(new Uint8Array(17), 4)[0] as Uint32Array)), /MHU_ERR_BUFFER_TOO_SMALL/);
  assert.throws(() => rx.push(encodeRound(Uint32Array.of(4, 0, 0, 7))), /doorbell/);
  assert.throws(() => rx.push(new Uint8Array(12)), /4 channels/);
  // After an error the receiver starts afresh.
  assert.deepEqual(rx.push(encodeRound(mhuRounds(Uint8Array.of(1, 2, 3), 4)[0] as Uint32Array)), Uint8Array.of(1, 2, 3));
});

test('over the socket in MHU rounds (4 channels): a token in ~60 rounds each way, a measured-boot read, NV counters', async () => {
  const server = new RseServer(deviceOf(exampleFixture('rse-2.1')), { mhuChannels: 4 });
  assert.equal(server.boot().ok, true);
  const path = join(tempDir(), 'rse.sock');
  await server.listen({ path });
  const c = await RseClient.connect({ path }, { mhuChannels: 4 });
  try {
    const tok = await c.attestationToken(new Uint8Array(64).fill(9));
    assert.equal(tok.status, PSA.SUCCESS);
    const iak = server.runtime?.attest.p.iak;
    assert.ok(iak !== undefined);
    assert.equal(verifyCose(decodeCose(tok.outVecs[0] as Uint8Array), tokenKeyOf(iak)), -35);
    const rd = await c.measuredBootRead(1);
    assert.equal(rd.slot?.swType, 'BL2');
    const before = (await c.nvRead(1)).value as number;
    assert.equal((await c.nvIncrement(1)).status, PSA.SUCCESS);
    assert.equal((await c.nvRead(1)).value, before + 1);
    // Plain frames still work on the same server.
    const plain = await RseClient.connect({ path });
    assert.equal((await plain.nvRead(1)).value, before + 1);
    plain.close();
    const p = await RseClient.connect({ path }, { mhuChannels: 4, protocol: 'pointer' });
    await assert.rejects(p.nvRead(0), { code: 'E_USAGE' });
    p.close();
  } finally {
    c.close();
    await server.close();
  }
});
