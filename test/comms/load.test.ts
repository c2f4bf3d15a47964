/**
 * Load and abuse: `rse serve` as its own process, 32 clients at once making RSE_LOAD_CALLS calls
 * each (10,000 by default), one malformed frame in every hundred. Every good call must get the
 * right answer (measured-boot slots, NV counters, token size, signed tokens), every malformed one
 * its error (error frames, header-echoed error replies with the status the RSE gives), the server
 * must stay up through the resets its abuse counters cause, and its peak RSS is reported. An
 * oversized frame closes only its own connection.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { type MbootReadout, RseClient } from '../../src/comms/client.ts';
import { encodeRegions, FRAME } from '../../src/comms/frames.ts';
import { decodeReply, encodeEmbedRequest, encodePointerRequest, PAYLOAD_MAX } from '../../src/comms/protocol.ts';
import { RseServer } from '../../src/comms/server.ts';
import { decodeCose } from '../../src/cose/message.ts';
import { DirStore } from '../../src/device/device.ts';
import { toHex } from '../../src/lib/hex.ts';
import { HANDLE, PSA } from '../../src/services/psa.ts';
import { deviceOf, exampleFixture } from '../boot/examples.ts';
import { tempDir } from '../helpers.ts';

const TSX = new URL('../../node_modules/tsx/dist/esm/index.mjs', import.meta.url).pathname;
const RSE = new URL('../../src/cli/rse.ts', import.meta.url).pathname;
const CLIENTS = 32;
const CALLS = Number(process.env.RSE_LOAD_CALLS ?? 10_000);

/** The answers every good call must reproduce, taken before the load. */
interface Baseline {
  slots: string[];
  nv: number[];
  tokenSize: number;
}

/** A slot readout as comparable text. */
const slotKey = (s: MbootReadout | undefined): string =>
  JSON.stringify({ ...s, signerId: toHex(s?.signerId ?? new Uint8Array(0)), value: toHex(s?.value ?? new Uint8Array(0)) });

async function baseline(c: RseClient): Promise<Baseline> {
  const slots: string[] = [];
  for (let s = 0; s < 6; s++) {
    const r = await c.measuredBootRead(s);
    assert.equal(r.status, PSA.SUCCESS);
    slots.push(slotKey(r.slot));
  }
  const nv: number[] = [];
  for (const id of [0, 1, 2]) nv.push((await c.nvRead(id)).value as number);
  const size = await c.call(HANDLE.ATTESTATION, 1002, [Uint8Array.of(48, 0, 0, 0)], [4]);
  assert.equal(size.status, PSA.SUCCESS);
  return { slots, nv, tokenSize: new DataView((size.outVecs[0] as Uint8Array).buffer).getUint32(0, true) };
}

/** A good call, chosen by `i`, checked against the baseline. */
async function goodCall(c: RseClient, i: number, b: Baseline): Promise<void> {
  if (i % 1000 === 500) {
    const r = await c.attestationToken(new Uint8Array(48).fill(i & 0xff));
    assert.equal(r.status, PSA.SUCCESS);
    assert.equal(r.outVecs[0]?.length, b.tokenSize);
    assert.ok(decodeCose(r.outVecs[0] as Uint8Array).payload.length > 0);
    return;
  }
  switch (i % 3) {
    case 0: {
      const r = await c.measuredBootRead(i % 6);
      assert.equal(r.status, PSA.SUCCESS);
      assert.equal(slotKey(r.slot), b.slots[i % 6]);
      return;
    }
    case 1: {
      const r = await c.nvRead(i % 3);
      assert.equal(r.status, PSA.SUCCESS);
      assert.equal(r.value, b.nv[i % 3]);
      return;
    }
    default: {
      const r = await c.call(HANDLE.ATTESTATION, 1002, [Uint8Array.of(48, 0, 0, 0)], [4]);
      assert.equal(r.status, PSA.SUCCESS);
      assert.equal(new DataView((r.outVecs[0] as Uint8Array).buffer).getUint32(0, true), b.tokenSize);
    }
  }
}

/** One malformed frame of kind `k` (0..7) and the answer it must get. */
async function malformed(c: RseClient, k: number, seq: number): Promise<void> {
  const h = { protocol: 0, seq, clientId: 1 };
  const errorReply = async (msg: Uint8Array, status: number, kind: number = FRAME.MSG): Promise<void> => {
    const f = await c.exchange(kind, msg);
    assert.equal(f.kind, kind);
    const body = kind === FRAME.MSG_MEM ? f.payload.subarray(1) : f.payload; // no regions written
    const r = decodeReply(body, 0);
    assert.equal(r.header.seq, seq, 'the header is echoed');
    assert.equal(r.status, status);
  };
  switch (k) {
    case 0: // shorter than a header
      assert.equal((await c.exchange(FRAME.MSG, Uint8Array.of(0, 1))).kind, FRAME.ERROR);
      return;
    case 1: // a frame kind nobody defined
      assert.equal((await c.exchange(0x55, new Uint8Array(8))).kind, FRAME.ERROR);
      return;
    case 2: // a handle no partition has
      return errorReply(encodeEmbedRequest(h, 0x40000999, 1001, [new Uint8Array(4)], [4], 'v2.11'), PSA.ERROR_NOT_PERMITTED);
    case 3: // a type the host may not call (platform SYSTEM_RESET)
      return errorReply(encodeEmbedRequest(h, HANDLE.PLATFORM, 1012, [], [], 'v2.11'), PSA.ERROR_NOT_PERMITTED);
    case 4: // an embed message over the payload limit
      return errorReply(
        encodeEmbedRequest(h, HANDLE.ATTESTATION, 1001, [new Uint8Array(PAYLOAD_MAX + 64)], [0x800], 'v2.11'),
        PSA.ERROR_CONNECTION_BUSY,
      );
    case 5: // truncated: an in-vector runs past the end
      return errorReply(
        encodeEmbedRequest(h, HANDLE.PLATFORM, 1010, [new Uint8Array(4)], [4], 'v2.11').subarray(0, 22),
        PSA.ERROR_CONNECTION_BUSY,
      );
    case 6: {
      // a control frame that is not JSON
      const f = await c.exchange(FRAME.CTRL, new TextEncoder().encode('{nope'));
      assert.equal(f.kind, FRAME.CTRL);
      assert.equal((JSON.parse(new TextDecoder().decode(f.payload)) as { ok: boolean }).ok, false);
      return;
    }
    default: {
      // pointer access into memory the host may not hand out (the secure ROM)
      const msg = encodePointerRequest({ ...h, protocol: 1 }, HANDLE.PLATFORM, 1010, 1, 1, [4, 4], [0x1000n, 0x06000000n], 'v2.11');
      const f = await c.exchange(FRAME.MSG_MEM, encodeRegions([], msg));
      assert.equal(f.kind, FRAME.MSG_MEM);
      const r = decodeReply(f.payload.subarray(1), 1);
      assert.equal(r.header.seq, seq);
      assert.equal(r.status, PSA.ERROR_CONNECTION_BUSY);
    }
  }
}

test(`load: ${CLIENTS} clients × ${CALLS} calls, 1 malformed frame per 100; the server stays up and answers every call correctly`, async (t) => {
  const dir = join(tempDir(), 'dev');
  mkdirSync(dir, { recursive: true });
  const store = new DirStore(dir);
  for (const [name, bytes] of exampleFixture('rse-2.1').store.files) store.write(name, bytes);
  const sock = join(tempDir(), 'rse.sock');
  const server = spawn(process.execPath, ['--import', TSX, RSE, 'serve', dir, '--socket', sock], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  server.stdout.on('data', (d: Buffer) => {
    log += d.toString();
  });
  server.stderr.on('data', (d: Buffer) => {
    log += d.toString();
  });
  let exit: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    server.on('exit', (code) => {
      exit = code;
      resolve(code);
    }),
  );
  try {
    for (let i = 0; i < 400 && !log.includes('serving'); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(log, /serving rse-2\.1 on /);
    const first = await RseClient.connect({ path: sock });
    const b = await baseline(first);
    first.close();

    const started = process.hrtime.bigint();
    const counts = { good: 0, bad: 0 };
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, ci) => {
        const c = await RseClient.connect({ path: sock }, ci % 2 === 0 ? {} : { protocol: 'pointer' });
        try {
          for (let i = 0; i < CALLS; i++) {
            if (i % 100 === 99) {
              await malformed(c, (Math.floor(i / 100) + ci) % 8, (i * 7 + ci) & 0xff);
              counts.bad++;
            } else {
              await goodCall(c, i + ci, b);
              counts.good++;
            }
          }
        } finally {
          c.close();
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;

    // An oversized frame: an error frame, then that connection (only) is closed.
    const raw = connect(sock);
    await new Promise<void>((resolve) => raw.once('connect', () => resolve()));
    const answer = new Promise<Buffer>((resolve) => {
      const parts: Buffer[] = [];
      raw.on('data', (d: Buffer) => parts.push(d));
      raw.on('close', () => resolve(Buffer.concat(parts)));
    });
    raw.write(Uint8Array.of(0xff, 0xff, 0xff, 0x7f, 0x00));
    const bytes = await answer;
    assert.equal(bytes[4], FRAME.ERROR, 'the oversized frame gets an error frame');

    const after = await RseClient.connect({ path: sock });
    const state = await after.control({ cmd: 'state' });
    await goodCall(after, 0, b);
    after.close();
    assert.equal(exit, undefined, `the server is still running (log: ${log})`);
    assert.equal(counts.good + counts.bad, CLIENTS * CALLS);
    const maxRss = state.maxRssBytes as number;
    t.diagnostic(
      `${counts.good} good + ${counts.bad} malformed calls in ${seconds.toFixed(1)} s (${Math.round((counts.good + counts.bad) / seconds)} calls/s); ` +
        `${state.abuseResets as number} abuse resets; server RSS ${((state.rssBytes as number) / 2 ** 20).toFixed(0)} MiB, peak ${(maxRss / 2 ** 20).toFixed(0)} MiB`,
    );
    assert.ok((state.abuseResets as number) > 0, 'the forbidden calls tripped the abuse counters');
    assert.ok(maxRss < 512 * 2 ** 20, `peak RSS ${maxRss} stays bounded`);
  } finally {
    server.kill();
    await exited;
  }
});

test('hostile bytes: any frame kind and payload, any message, gets an answer or a typed refusal, never an exception', () => {
  const server = new RseServer(deviceOf(exampleFixture('rse-2.1')), { permissions: 'open' });
  assert.equal(server.boot().ok, true);
  const handles = [HANDLE.ATTESTATION, HANDLE.MEASURED_BOOT, HANDLE.DELEGATED_ATTESTATION, HANDLE.PLATFORM, HANDLE.CRYPTO, 0x40000999];
  // Structured requests with random handles, types, vectors and capacities (embed), and raw bytes.
  const embed = fc
    .record({
      handle: fc.constantFrom(...handles),
      type: fc.oneof(fc.constantFrom(0, 1001, 1002, 1010, 1011, 1012, 1013), fc.integer({ min: -32768, max: 32767 })),
      ins: fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 4 }),
      outs: fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 4 }),
    })
    .filter((r) => r.ins.length + r.outs.length <= 4)
    .map((r) => encodeEmbedRequest({ protocol: 0, seq: 1, clientId: 1 }, r.handle, r.type, r.ins, r.outs, 'v2.11'));
  fc.assert(
    fc.property(
      fc.oneof(embed, fc.uint8Array({ maxLength: 128 })),
      fc.constantFrom(FRAME.MSG, FRAME.MSG_MEM, FRAME.CTRL, 0x33),
      (payload, kind) => {
        const out = server.handleFrame(kind, payload);
        assert.ok(out === undefined || out.length >= 5);
      },
    ),
    { numRuns: 3000 },
  );
});
