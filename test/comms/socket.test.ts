/**
 * The served RSE over a Unix socket: the client library's calls in both protocols, the control
 * channel, fault injection and malformed frames; TF-A's rse-nv-counters platform test and the
 * measured-boot extend/read cycle over the wire.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { RseClient } from '../../src/comms/client.ts';
import { FRAME, FrameReader, frame } from '../../src/comms/frames.ts';
import { encodeEmbedRequest } from '../../src/comms/protocol.ts';
import { RseServer } from '../../src/comms/server.ts';
import { decodeCose } from '../../src/cose/message.ts';
import { isRseError } from '../../src/lib/errors.ts';
import { CRYPTO_ABI } from '../../src/services/platform.ts';
import { PSA } from '../../src/services/psa.ts';
import { deviceOf, exampleFixture } from '../boot/examples.ts';
import { runCli, tempDir } from '../helpers.ts';

async function served(): Promise<{ server: RseServer; path: string }> {
  const server = new RseServer(deviceOf(exampleFixture('rse-2.1')));
  assert.equal(server.boot().ok, true);
  const path = join(tempDir(), 'rse.sock');
  await server.listen({ path });
  return { server, path };
}

test('over a Unix socket: token, measured boot, NV counters (TF-A rse-nv-counters), ROTPK, in embed and pointer access', async () => {
  const { server, path } = await served();
  try {
    for (const protocol of ['embed', 'pointer'] as const) {
      const c = await RseClient.connect({ path }, { protocol });
      const tok = await c.attestationToken(new Uint8Array(48).fill(1));
      assert.equal(tok.status, PSA.SUCCESS);
      assert.equal(tok.protocol, protocol);
      assert.ok(decodeCose(tok.outVecs[0] as Uint8Array).payload.length > 100);
      // nv_counter_test.c: for ids 0..2 read, increment, read again: +1.
      for (const id of [0, 1, 2]) {
        const a = await c.nvRead(id);
        assert.equal(a.status, PSA.SUCCESS);
        assert.equal((await c.nvIncrement(id)).status, PSA.SUCCESS);
        assert.equal((await c.nvRead(id)).value, (a.value as number) + 1);
      }
      assert.equal((await c.nvRead(3)).status, 1, 'a fourth host counter: TFM_PLATFORM_ERR_SYSTEM_ERROR');
      const slot = 6 + (protocol === 'embed' ? 0 : 1);
      const ext = await c.measuredBootExtend({
        slot,
        signerId: new Uint8Array(32),
        version: '',
        swType: 'FW_CONFIG',
        measurement: new Uint8Array(32).fill(0xab),
        lock: true,
      });
      assert.equal(ext.status, PSA.SUCCESS);
      const rd = await c.measuredBootRead(slot);
      assert.equal(rd.status, PSA.SUCCESS);
      assert.equal(rd.slot?.swType, 'FW_CONFIG');
      assert.equal(rd.slot?.locked, true);
      const again = await c.measuredBootExtend({
        slot,
        signerId: new Uint8Array(32),
        version: '',
        swType: 'FW_CONFIG',
        measurement: new Uint8Array(32),
        lock: false,
      });
      assert.equal(again.status, PSA.ERROR_BAD_STATE, 'a locked slot');
      const rotpk = await c.rotpk('cca', CRYPTO_ABI['tfm-2.1']);
      assert.equal(rotpk.status, PSA.SUCCESS);
      assert.deepEqual(rotpk.outVecs[0], Uint8Array.of(0x04, ...server.dev.plat.read('host_rotpk_cca')));
      // GENERATE_RANDOM is not open to the host on TC.
      const iov = new Uint8Array(56);
      new DataView(iov.buffer).setUint16(40, 0x0100, true);
      assert.equal((await c.call(0x40000100, 0, [iov], [16])).status, PSA.ERROR_NOT_PERMITTED);
      if (protocol === 'pointer') {
        // An out-vector no 64 KiB comms ATU window can map: refused, and the server goes on.
        const huge = await c.call(0x40000103, 1001, [new Uint8Array(32)], [0x100000]);
        assert.equal(huge.status, PSA.ERROR_CONNECTION_BUSY);
        assert.equal((await c.nvRead(0)).status, PSA.SUCCESS);
      }
      c.close();
    }
  } finally {
    await server.close();
  }
});

test('control channel and faults: state, busy and dropped replies, reset re-boots; malformed frames get errors', async () => {
  const { server, path } = await served();
  try {
    const c = await RseClient.connect({ path });
    const st = await c.control({ cmd: 'state' });
    assert.equal(st.ok, true);
    assert.deepEqual(st.slots, [0, 1, 2, 3, 4, 5]);
    await c.control({ cmd: 'fault', busy: 1 });
    assert.equal((await c.nvRead(0)).status, PSA.ERROR_CONNECTION_BUSY);
    assert.equal((await c.nvRead(0)).status, PSA.SUCCESS);
    const reset = await c.control({ cmd: 'reset' });
    assert.equal(reset.ok, true);
    assert.equal(reset.boots, 2);
    // A frame of an unknown kind and a headerless message: ERROR frames, the connection stays.
    assert.equal((await c.exchange(0x33, new Uint8Array(1))).kind, FRAME.ERROR);
    assert.equal((await c.exchange(FRAME.MSG, new Uint8Array(2))).kind, FRAME.ERROR);
    // A message with a bad protocol byte: CONNECTION_BUSY with the header echoed.
    const bad = await c.exchange(FRAME.MSG, Uint8Array.of(7, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0));
    assert.deepEqual(bad.payload.subarray(0, 4), Uint8Array.of(7, 9, 1, 0));
    assert.equal(new DataView(bad.payload.buffer, bad.payload.byteOffset).getInt32(4, true), PSA.ERROR_CONNECTION_BUSY);
    // A forbidden handle, and a host client id of 0.
    assert.equal((await c.call(0x40000101, 1, [], [])).status, PSA.ERROR_NOT_PERMITTED);
    const zero = await c.exchange(
      FRAME.MSG,
      encodeEmbedRequest({ protocol: 0, seq: 5, clientId: 0 }, 0x40000105, 1010, [new Uint8Array(4)], [4], 'v2.11'),
    );
    assert.equal(new DataView(zero.payload.buffer, zero.payload.byteOffset).getInt32(4, true), PSA.ERROR_INVALID_ARGUMENT);
    c.close();
    // An absurd frame length: an ERROR frame and the connection closes.
    const raw = connect(path);
    const got = await new Promise<Uint8Array>((resolve) => {
      const parts: Buffer[] = [];
      raw.on('data', (d: Buffer) => parts.push(d));
      raw.on('close', () => resolve(new Uint8Array(Buffer.concat(parts))));
      raw.write(Uint8Array.of(0xff, 0xff, 0xff, 0x7f, 0));
    });
    assert.equal(got[4], FRAME.ERROR);
  } finally {
    await server.close();
  }
});

test('rse serve --socket never removes a file that is not a stale socket: a regular file and a live socket are refused, a stale socket replaced', async () => {
  const dir = tempDir();
  const file = join(dir, 'notes.txt');
  writeFileSync(file, 'keep me');
  const a = new RseServer(deviceOf(exampleFixture('rse-2.1')));
  assert.equal(a.boot().ok, true);
  await assert.rejects(a.listen({ path: file }), (e: unknown) => isRseError(e) && e.code === 'E_EXISTS');
  assert.equal(readFileSync(file, 'utf8'), 'keep me');
  const sock = join(dir, 'rse.sock');
  await a.listen({ path: sock });
  const b = new RseServer(deviceOf(exampleFixture('rse-2.1')));
  assert.equal(b.boot().ok, true);
  await assert.rejects(b.listen({ path: sock }), (e: unknown) => isRseError(e) && /listening there already/.test(e.message));
  // A socket file whose server is gone is stale: replaced.
  const stale = join(dir, 'stale.sock');
  // A killed server's socket file: bound, never listened on, left behind.
  spawnSync('python3', ['-c', `import socket;s=socket.socket(socket.AF_UNIX);s.bind(${JSON.stringify(stale)})`]);
  assert.ok(existsSync(stale), 'a stale socket file to replace');
  assert.equal(await b.listen({ path: stale }), stale);
  await a.close();
  await b.close();
});

test('the control channel under fuzz: any JSON value or bytes get a CTRL or error reply, the server keeps serving ("\\x05\\0\\0\\0\\x02null" once ended it)', async () => {
  const server = new RseServer(deviceOf(exampleFixture('rse-2.1')));
  assert.equal(server.boot().ok, true);
  const path = await server.listen({ path: join(tempDir(), 'rse.sock') });
  const sock = connect(path);
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const reader = new FrameReader();
  const pending: ((f: { kind: number; payload: Uint8Array }) => void)[] = [];
  sock.on('data', (d) => {
    for (const f of reader.push(new Uint8Array(d))) pending.shift()?.(f);
  });
  const ask = (payload: Uint8Array): Promise<{ kind: number; payload: Uint8Array }> =>
    new Promise((resolve) => {
      pending.push(resolve);
      sock.write(frame(FRAME.CTRL, payload));
    });
  try {
    // The reproducer: a control frame whose JSON is null.
    const r0 = await ask(new TextEncoder().encode('null'));
    assert.equal(r0.kind, FRAME.CTRL);
    assert.equal(JSON.parse(new TextDecoder().decode(r0.payload)).ok, false);
    const harmless = fc.jsonValue().filter((v) => {
      // Commands that change the server (reset, shutdown, faults) are not what this fuzzes.
      const c = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>).cmd : undefined;
      return c === undefined || !['reset', 'power-cycle', 'shutdown', 'fault'].includes(String(c));
    });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          harmless.map((v) => new TextEncoder().encode(JSON.stringify(v))),
          fc.uint8Array({ maxLength: 64 }),
        ),
        async (payload) => {
          const r = await ask(payload);
          assert.ok(r.kind === FRAME.CTRL || r.kind === FRAME.ERROR, `reply kind ${r.kind}`);
        },
      ),
      { numRuns: 300 },
    );
    // Still serving: a measured-boot read works.
    const c = await RseClient.connect({ path });
    try {
      assert.equal((await c.measuredBootRead(2)).status, PSA.SUCCESS);
    } finally {
      c.close();
    }
  } finally {
    sock.destroy();
    await server.close();
  }
});

// Waiting forever would run into the test's timeout (a liveness bound, not a speed figure).
test('rse call --timeout: a dropped reply fails the call (exit 2, E_COMMS) instead of waiting forever', { timeout: 60_000 }, async () => {
  const server = new RseServer(deviceOf(exampleFixture('rse-2.1')));
  assert.equal(server.boot().ok, true);
  const path = await server.listen({ path: join(tempDir(), 'rse.sock') });
  try {
    const c = await RseClient.connect({ path });
    await c.control({ cmd: 'fault', drop: 1 });
    c.close();
    const r = await runCli(['call', 'mboot', 'read', '2', '--socket', path, '--timeout', '300', '--json']);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /no reply from the RSE within 300 ms/);
    // The next call is answered.
    const ok = await runCli(['call', 'mboot', 'read', '2', '--socket', path, '--timeout', '2000', '--json']);
    assert.equal(ok.code, 0, ok.stderr);
  } finally {
    await server.close();
  }
});
