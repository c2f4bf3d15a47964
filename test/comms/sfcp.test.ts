/**
 * SFCP packets against the exact bytes TF-A v2.15.0's own client sent and the replies it accepted
 * (`../shared/vectors/sfcp`): every MSG decodes to the AP monitor's request to the RSE with TF-A's
 * ids and a per-destination message id counting from 0, re-encodes to the same bytes, and converts
 * to the legacy RSE comms message whose handle and call type are the API's; every REPLY decodes as
 * the reply to its MSG (sender and receiver kept, message id echoed) and round-trips, through the
 * legacy reply too; protocol-error replies carry their codes. Then hostile bytes give typed errors.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { RseClient } from '../../src/comms/client.ts';
import { decodeRegions, encodeRegions, FRAME, FrameReader, frame } from '../../src/comms/frames.ts';
import { decodeRequest } from '../../src/comms/protocol.ts';
import { RseServer } from '../../src/comms/server.ts';
import {
  decodeSfcpPacket,
  encodeSfcpPacket,
  encodeSfcpProtocolError,
  isSfcpPacket,
  SFCP_PACKET_TYPE,
  SFCP_PROTOCOL_ERROR,
  type SfcpPacket,
  sfcpReplyFromLegacy,
  sfcpToLegacyMessage,
} from '../../src/comms/sfcp.ts';
import { exportPublicDer, hash, loadKey } from '../../src/crypto/index.ts';
import { Device } from '../../src/device/device.ts';
import { RseError } from '../../src/lib/errors.ts';
import { fromHex } from '../../src/lib/hex.ts';
import { BUILTIN_KEY, CRYPTO_FN } from '../../src/services/crypto-wire.ts';
import { HANDLE, PSA } from '../../src/services/psa.ts';
import { exampleFixture } from '../boot/examples.ts';
import { runCli, tempDir, vectorsDir } from '../helpers.ts';

interface SfcpRecord {
  readonly api: string;
  readonly msg: Uint8Array;
  readonly reply: Uint8Array;
  /** Pointer access: the bytes at host_ptrs[n] for each invec. */
  readonly invecs: readonly Uint8Array[];
}

function records(file: string): SfcpRecord[] {
  return readFileSync(join(vectorsDir('sfcp'), file), 'utf8')
    .split(/\n\s*\n/)
    .map((block) => {
      const line = (k: string): string => (block.split('\n').find((l) => l.startsWith(`${k} `)) ?? `${k} `).slice(k.length + 1).trim();
      const invecs = block
        .split('\n')
        .filter((l) => /^INVEC\d/.test(l))
        .map((l) => fromHex(l.replace(/^INVEC\d+ ?/, '').trim()));
      return { api: line('API'), msg: fromHex(line('MSG')), reply: fromHex(line('REPLY')), invecs };
    })
    .filter((r) => r.api !== '');
}

/** The service handle and call type each lib/psa wrapper sends (`sid.h`, the services' ids). */
function expectedCall(api: string): { handle: number; type: number } {
  const table: [RegExp, number, number][] = [
    [/^measured_boot_extend/, 0x40000110, 1002],
    [/^measured_boot_read/, 0x40000110, 1001],
    [/^delegated_get_key/, 0x40000111, 1001],
    [/^delegated_get_token/, 0x40000111, 1002],
    [/nv_counter_read|nv_read/i, 0x40000105, 1010],
    [/nv_counter_increment|nv_increment/i, 0x40000105, 1011],
    [/entropy/i, 0x40000100, 0],
  ];
  const hit = table.find(([re]) => re.test(api));
  if (hit === undefined) throw new Error(`no expectation for ${api}`);
  return { handle: hit[1], type: hit[2] };
}

const FILES = ['tfa-v2.15.0_sfcp_tc.txt', 'tfa-v2.15.0_sfcp_tc_embed-forced.txt', 'tfa-v2.15.0_sfcp_tc_pointer-forced.txt'];

for (const f of FILES) {
  test(`${f}: each MSG decodes, round-trips and is the legacy call of its API line; each REPLY answers it`, () => {
    const rs = records(f);
    assert.ok(rs.length >= 8, `${rs.length} records`);
    rs.forEach((r, i) => {
      assert.ok(isSfcpPacket(r.msg));
      const m = decodeSfcpPacket(r.msg) as SfcpPacket;
      assert.equal(m.type, SFCP_PACKET_TYPE.MSG_NEEDS_REPLY, r.api);
      assert.deepEqual([m.sender, m.receiver, m.messageId], [2, 0, i], `${r.api}: AP monitor to RSE, message id ${i}`);
      assert.deepEqual(m.ids, { clientId: 1, applicationId: 0 });
      assert.equal(m.crypto, undefined, 'TF-A v2.15.0 never uses the cryptography block');
      assert.deepEqual(encodeSfcpPacket(m), r.msg);
      const legacy = sfcpToLegacyMessage(m);
      const req = decodeRequest(legacy, 'v2.11');
      assert.deepEqual({ handle: req.handle, type: req.type }, expectedCall(r.api), r.api);
      assert.equal(req.header.seq, i);
      const reply = decodeSfcpPacket(r.reply) as SfcpPacket;
      assert.deepEqual([reply.type, reply.sender, reply.receiver, reply.messageId], [SFCP_PACKET_TYPE.REPLY, 2, 0, i]);
      assert.deepEqual(encodeSfcpPacket(reply), r.reply);
      // The legacy path: the same reply body behind {protocol_ver, seq, client_id}, and back.
      const legacyReply = Uint8Array.of(reply.payload[0] as number, i, 1, 0, ...reply.payload.subarray(4));
      assert.deepEqual(sfcpReplyFromLegacy(m, legacyReply), r.reply);
    });
  });
}

test('tfa-v2.15.0_sfcp_tc_errors.txt: protocol-error replies decode with their codes and re-encode', () => {
  const errors = records('tfa-v2.15.0_sfcp_tc_errors.txt')
    .map((r) => ({ r, d: decodeSfcpPacket(r.reply) }))
    .filter((x) => 'protocolError' in x.d);
  assert.ok(errors.length >= 2);
  const codes = errors.map((x) => ('protocolError' in x.d ? x.d.protocolError.error : -1));
  assert.ok(codes.includes(SFCP_PROTOCOL_ERROR.TRY_AGAIN_LATER) && codes.includes(SFCP_PROTOCOL_ERROR.HANDLER_FAILED), String(codes));
  for (const { r, d } of errors) if ('protocolError' in d) assert.deepEqual(encodeSfcpProtocolError(d.protocolError), r.reply);
});

test('property: hostile bytes give typed errors or a packet that re-encodes to themselves', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
      try {
        const d = decodeSfcpPacket(b);
        if ('protocolError' in d) assert.deepEqual(encodeSfcpProtocolError(d.protocolError), b);
        else assert.deepEqual(encodeSfcpPacket(d), b);
      } catch (e) {
        assert.ok(e instanceof RseError && e.code === 'E_COMMS', String(e));
      }
    }),
    { numRuns: 3000, seed: 0x5fc9 },
  );
});

async function exchange(path: string, payloads: readonly Uint8Array[], kind: number = FRAME.MSG): Promise<Uint8Array[]> {
  const sock = connect(path);
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  const reader = new FrameReader();
  const out: Uint8Array[] = [];
  try {
    for (const p of payloads) {
      const reply = new Promise<Uint8Array>((resolve) => {
        const on = (chunk: Buffer): void => {
          const frames = reader.push(new Uint8Array(chunk));
          const f = frames[0];
          if (f === undefined) return;
          sock.off('data', on);
          resolve(f.payload);
        };
        sock.on('data', on);
      });
      sock.write(frame(kind, p));
      out.push(await reply);
    }
  } finally {
    sock.destroy();
  }
  return out;
}

test('rse serve of the rse-2.3 example: every embed MSG TF-A v2.15.0 sent gets its SFCP reply with real data; legacy clients still work; what it cannot take gets a protocol error', async () => {
  const store = exampleFixture('rse-2.3').store.clone();
  const server = new RseServer(Device.open(store));
  assert.equal(server.boot().ok, true);
  const path = await server.listen({ path: join(tempDir(), 'rse.sock') });
  try {
    const rs = records('tfa-v2.15.0_sfcp_tc_embed-forced.txt');
    const replies = await exchange(
      path,
      rs.map((r) => r.msg),
    );
    rs.forEach((r, i) => {
      const m = decodeSfcpPacket(r.msg) as SfcpPacket;
      const reply = decodeSfcpPacket(replies[i] as Uint8Array) as SfcpPacket;
      assert.deepEqual([reply.type, reply.sender, reply.receiver, reply.messageId], [SFCP_PACKET_TYPE.REPLY, 2, 0, m.messageId], r.api);
      assert.deepEqual(reply.ids, m.ids);
      const status = new DataView(reply.payload.buffer, reply.payload.byteOffset).getInt32(4, true);
      // The recorded token call hashes a made-up DAK (bytes 0..47): the service refuses it, as the RSE does.
      const want = /delegated_get_token/.test(r.api) ? PSA.ERROR_INVALID_ARGUMENT : PSA.SUCCESS;
      assert.equal(status, want, `${r.api}: status ${status}`);
      if (/nv_counter_read/.test(r.api)) assert.equal(reply.payload[8], 4, 'the counter value comes back (out_size 4)');
    });
    // A legacy RSE comms client on the same socket.
    const legacy = await RseClient.connect({ path });
    try {
      assert.equal((await legacy.nvRead(0)).status, PSA.SUCCESS);
    } finally {
      legacy.close();
    }
    const base = decodeSfcpPacket((rs[5] as SfcpRecord).msg) as SfcpPacket;
    const errs = await exchange(path, [
      encodeSfcpPacket({ ...base, receiver: 3 }),
      encodeSfcpPacket({ ...base, crypto: new Uint8Array(20) }),
      encodeSfcpPacket({ ...base, type: SFCP_PACKET_TYPE.REPLY }),
    ]);
    assert.deepEqual(
      errs.map((e) => {
        const d = decodeSfcpPacket(e);
        return 'protocolError' in d ? d.protocolError.error : -1;
      }),
      [SFCP_PROTOCOL_ERROR.FORWARDING_UNSUPPORTED, SFCP_PROTOCOL_ERROR.CRYPTO_UNSUPPORTED, SFCP_PROTOCOL_ERROR.UNSUPPORTED],
    );
  } finally {
    await server.close();
  }
});

test('rse serve of the rse-2.3 example: pointer access inside SFCP, with the buffers TF-A pointed at attached as host memory', async () => {
  const store = exampleFixture('rse-2.3').store.clone();
  // The harness ran TF-A's client on a PC: its buffers live in that process's stack, outside TC's
  // host windows, so this server leaves the memory rules open (they have their own test).
  const server = new RseServer(Device.open(store), { permissions: 'open' });
  assert.equal(server.boot().ok, true);
  const path = await server.listen({ path: join(tempDir(), 'rse.sock') });
  try {
    // The recorded token call names a made-up DAK hash (the service refuses it); the rest succeed.
    const rs = records('tfa-v2.15.0_sfcp_tc_pointer-forced.txt').filter((r) => !/delegated_get_token/.test(r.api));
    const frames = rs.map((r) => {
      const req = decodeRequest(sfcpToLegacyMessage(decodeSfcpPacket(r.msg) as SfcpPacket), 'v2.11');
      assert.equal(req.kind, 'pointer', r.api);
      const ptrs = req.kind === 'pointer' ? req.hostPtrs : [];
      return encodeRegions(
        r.invecs.map((bytes, i) => ({ addr: ptrs[i] as bigint, bytes })).filter((x) => x.bytes.length > 0),
        r.msg,
      );
    });
    const replies = await exchange(path, frames, FRAME.MSG_MEM);
    rs.forEach((r, i) => {
      const { regions, rest } = decodeRegions(replies[i] as Uint8Array);
      const reply = decodeSfcpPacket(rest) as SfcpPacket;
      assert.equal(reply.type, SFCP_PACKET_TYPE.REPLY, r.api);
      const dv = new DataView(reply.payload.buffer, reply.payload.byteOffset, reply.payload.byteLength);
      assert.equal(dv.getInt32(4, true), PSA.SUCCESS, r.api);
      const outSizes = [0, 1, 2, 3].map((k) => dv.getUint32(8 + 4 * k, true));
      const written = regions.reduce((n, x) => n + x.bytes.length, 0);
      assert.equal(
        written,
        outSizes.reduce((a, b) => a + b, 0),
        `${r.api}: what the reply reports is what was written to host memory`,
      );
    });
  } finally {
    await server.close();
  }
});

test('the TypeScript client and rse call --sfcp speak SFCP to the rse-2.3 example, embed and pointer access; a wrong node gets the protocol error', async () => {
  const store = exampleFixture('rse-2.3').store.clone();
  const server = new RseServer(Device.open(store));
  assert.equal(server.boot().ok, true);
  const path = await server.listen({ path: join(tempDir(), 'rse.sock') });
  try {
    const sfcp = await RseClient.connect({ path }, { sfcp: { receiver: 0 } });
    try {
      const nv = await sfcp.nvRead(0);
      assert.equal(nv.status, PSA.SUCCESS);
      const tok = await sfcp.attestationToken(new Uint8Array(48).fill(3));
      assert.equal(tok.status, PSA.SUCCESS);
      assert.equal(tok.protocol, 'embed');
      const big = await sfcp.call(HANDLE.ATTESTATION, 1001, [new Uint8Array(64).fill(4)], [0x1000]);
      assert.equal(big.protocol, 'pointer');
      assert.equal(big.status, PSA.SUCCESS, 'a 64-byte challenge over pointer access gets its token');
    } finally {
      sfcp.close();
    }
    const r = await runCli(['call', 'nv', 'read', '0', '--socket', path, '--sfcp', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const wrongNode = await runCli(['call', 'nv', 'read', '0', '--socket', path, '--sfcp', '3', '--json']);
    assert.equal(wrongNode.code, 2);
    assert.match(wrongNode.stdout + wrongNode.stderr, /protocol error/);
  } finally {
    await server.close();
  }
});

test('the host-ROTPK calls answered as TF-M 2.3.1 answers them: ROTPK hashes only through export_key, 0x7FFF816D no key', async () => {
  const fx = exampleFixture('rse-2.3');
  const server = new RseServer(Device.open(fx.store.clone()));
  assert.equal(server.boot().ok, true);
  const path = await server.listen({ path: join(tempDir(), 'rse.sock') });
  try {
    for (const options of [{ sfcp: { receiver: 0 } }, {}] as const) {
      const c = await RseClient.connect({ path }, options);
      try {
        // The old TF-A client's call (export_public_key): a hash is no public key.
        const pub = await c.crypto({ functionId: CRYPTO_FN.EXPORT_PUBLIC_KEY, keyId: 0x7fff816c }, [], [97]);
        assert.equal(pub.status, PSA.ERROR_INVALID_ARGUMENT);
        // export_key gives CM ROTPK 2 (HOST_0): the SHA-256 of the host key the example provisioned.
        const cm = await c.crypto({ functionId: CRYPTO_FN.EXPORT_KEY, keyId: 0x7fff816c }, [], [64]);
        assert.equal(cm.status, PSA.SUCCESS);
        const hostKey = loadKey(new Uint8Array(readFileSync(join(fx.dir, '../keys/host-EC-P256.pem'))));
        assert.deepEqual(cm.outVecs[0], hash('sha256', exportPublicDer(hostKey, 'spki')));
        // 0x7FFF816D is HOST_CM_MAX: no key (it was the NS ROTPK on 2.1).
        assert.equal((await c.crypto({ functionId: CRYPTO_FN.EXPORT_KEY, keyId: 0x7fff816d }, [], [64])).status, PSA.ERROR_INVALID_HANDLE);
        // DM HOST_0 (DM ROTPK 2) is not provisioned in the example: the loader reads zeros and exports them.
        const dm = await c.crypto({ functionId: CRYPTO_FN.EXPORT_KEY, keyId: 0x7fff816e }, [], [64]);
        assert.equal(dm.status, PSA.SUCCESS);
        assert.deepEqual(dm.outVecs[0], new Uint8Array(32));
        // The IAK and HUK stay in: the host's export of them is refused.
        assert.equal(
          (await c.crypto({ functionId: CRYPTO_FN.EXPORT_KEY, keyId: BUILTIN_KEY.HUK }, [], [64])).status,
          PSA.ERROR_NOT_PERMITTED,
        );
      } finally {
        c.close();
      }
    }
  } finally {
    await server.close();
  }
});
