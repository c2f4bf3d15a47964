/**
 * Acceptance 1 of the runtime-services issue: every MSG TF-A's serialiser produced
 * (`../shared/vectors/rse-comms`) gets a well-formed reply from the virtual RSE with the header
 * echoed, decoding with the same layouts; the calls that can succeed return real data.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { bootDevice } from '../../src/boot/chain.ts';
import { AttachedMemory, Endpoint } from '../../src/comms/endpoint.ts';
import { type CtrlPacking, decodeReply, decodeRequest } from '../../src/comms/protocol.ts';
import { fromHex } from '../../src/lib/hex.ts';
import { PSA } from '../../src/services/psa.ts';
import { Runtime } from '../../src/services/spm.ts';
import { deviceOf, exampleFixture } from '../boot/examples.ts';

const DIR = new URL('../../../shared/vectors/rse-comms/', import.meta.url);

interface VectorRecord {
  readonly api: string;
  readonly protocol: number;
  readonly msg: Uint8Array;
  readonly invecs: Uint8Array[];
  readonly ret: number;
}

function records(file: string): VectorRecord[] {
  const out: VectorRecord[] = [];
  let cur: { api: string; protocol: number; msg: Uint8Array; invecs: Uint8Array[]; ret: number } | undefined;
  for (const line of readFileSync(new URL(file, DIR), 'utf8').split('\n')) {
    const [k, ...rest] = line.split(' ');
    const v = rest.join(' ').trim();
    if (k === 'API') {
      if (cur) out.push(cur);
      cur = { api: v, protocol: 0, msg: new Uint8Array(0), invecs: [], ret: 0 };
    } else if (cur && k === 'PROTOCOL') cur.protocol = Number(v);
    else if (cur && k === 'MSG') cur.msg = fromHex(v);
    else if (cur && k?.startsWith('INVEC')) cur.invecs[Number(k.slice(5))] = fromHex(v);
    else if (cur && k === 'RET') cur.ret = Number(v);
  }
  if (cur) out.push(cur);
  return out;
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.txt'));

for (const file of files) {
  test(`rse-comms vectors ${file}: every message answered, header echoed, real data`, () => {
    const rss = file.includes('v2.10');
    const fx = exampleFixture(rss ? 'rss-1.7' : 'rse-2.1');
    const dev = deviceOf(fx);
    const boot = bootDevice(dev);
    assert.equal(boot.ok, true, boot.halt?.reason);
    const packing: CtrlPacking = rss ? 'v2.10' : 'v2.11';
    // The vectors' host pointers are addresses in TF-A's test process: the client attaches the
    // buffers behind them, so the permission table cannot apply.
    const ep = new Endpoint(new Runtime(dev, boot.measurements, { permissions: 'open' }), { packing });
    const recs = records(file);
    assert.ok(recs.length >= 7);
    for (const r of recs) {
      const req = decodeRequest(r.msg, packing);
      assert.equal(req.kind, r.protocol === 0 ? 'embed' : 'pointer', r.api);
      const mem =
        req.kind === 'pointer'
          ? new AttachedMemory(
              r.invecs.map((bytes, i) => ({ addr: req.hostPtrs[i] as bigint, bytes })).filter((x) => x.bytes !== undefined),
            )
          : undefined;
      const reply = ep.handle(r.msg, mem) as Uint8Array;
      assert.ok(reply !== undefined, r.api);
      assert.deepEqual(reply.subarray(0, 4), r.msg.subarray(0, 4), `${r.api}: header echoed`);
      const d = decodeReply(reply, req.outLen);
      const outs = req.kind === 'embed' ? d.outVecs : (mem?.written.map((w) => w.bytes) ?? []);
      if (r.api.startsWith('measured_boot_extend')) assert.equal(d.status, PSA.SUCCESS, r.api);
      if (r.api.startsWith('measured_boot_read')) {
        assert.equal(d.status, PSA.SUCCESS, r.api);
        assert.deepEqual(d.outSizes, [rss ? 44 : 56, 32, 32]);
        // Slot 8 = H(0^32 ‖ 00..1f), locked, type BL_2.
        assert.equal(outs[0]?.[0], 1);
        assert.equal(new TextDecoder().decode(outs[0]?.subarray(8, 12)), 'BL_2');
        assert.equal(Buffer.from(outs[2] as Uint8Array).toString('hex').length, 64);
      }
      if (r.api.startsWith('delegated_get_key')) {
        assert.equal(d.status, PSA.SUCCESS, r.api);
        assert.deepEqual(d.outSizes, [48]);
      }
      // A 48-byte hash after a SHA-256 key request cannot match: the RSE says so.
      if (r.api.startsWith('delegated_get_token')) assert.equal(d.status, PSA.ERROR_INVALID_ARGUMENT, r.api);
      if (r.api.startsWith('nv_counter_read')) {
        assert.equal(d.status, PSA.SUCCESS, r.api);
        assert.deepEqual(d.outSizes, [4]);
      }
      if (r.api.startsWith('nv_counter_increment')) assert.equal(d.status, PSA.SUCCESS, r.api);
    }
    assert.equal(dev.plat.readCounter('nv_counter_ns_2'), 1);
  });
}
