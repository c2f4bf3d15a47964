/**
 * TF-A v2.15.0's own SFCP client against `rse serve`: the upstream SFCP core, `psa_call()` and the
 * lib/psa wrappers (`../shared/upstream/tf-a-v2.15.0-sfcp`, compiled here with the host gcc and
 * never copied) with our small link layer (`tfa-client/link_hal.c`) carrying their packets over the
 * socket framing. The driver (`tfa-client/main.c`) runs measured boot extend and read, delegated
 * attestation key and token, NV counter read/increment/read and entropy, in embed (NV counters)
 * and pointer access (the rest), as TF-A chooses. The served device is the `rse-2.3` example
 * (TF-M 2.3.1), provisioned with messages and booted, whose runtime speaks SFCP. Its host-memory rules are left open: the client's
 * buffers are this PC process's memory, not TC's host windows (the rules have their own test).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RseServer } from '../../src/comms/server.ts';
import { decodeCose } from '../../src/cose/message.ts';
import { ecPublicFromPrivate, hash } from '../../src/crypto/index.ts';
import { Device } from '../../src/device/device.ts';
import { fromHex, toHex } from '../../src/lib/hex.ts';
import { exampleFixture } from '../boot/examples.ts';
import { tempDir, vectorsDir } from '../helpers.ts';
import { oracle, oracleSkip } from '../oracles.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));

/** Builds TF-A's client as the upstream README says, with our link layer and driver. */
function buildClient(): string {
  const u = join(vectorsDir('sfcp'), '../../upstream/tf-a-v2.15.0-sfcp');
  const out = join(tempDir(), 'tfa-client');
  const src = (...p: string[]): string[] => p.map((x) => join(u, x));
  const r = spawnSync(
    oracle('gcc') as string,
    [
      '-std=gnu11',
      '-ffunction-sections',
      '-fdata-sections',
      '-Wl,--gc-sections',
      '-DSFCP_PROTOCOL_EMBED_ENABLED',
      '-DSFCP_PROTOCOL_POINTER_ACCESS_ENABLED',
      '-DCRYPTO_SUPPORT=1',
      `-I${join(u, 'host-stubs')}`,
      `-I${join(u, 'include')}`,
      `-I${join(u, 'include/lib/psa')}`,
      `-I${join(u, 'drivers/arm/sfcp/sfcp_core')}`,
      `-I${join(u, 'drivers/arm/sfcp/sfcp_psa/sfcp_psa_protocol')}`,
      ...src(
        'drivers/arm/sfcp/sfcp_psa/sfcp_psa_call/sfcp_psa_call.c',
        'drivers/arm/sfcp/sfcp_core/sfcp_helpers.c',
        'drivers/arm/sfcp/sfcp_core/sfcp.c',
        'drivers/arm/sfcp/sfcp_core/sfcp_random.c',
        'drivers/arm/sfcp/sfcp_core/sfcp_encryption_stub.c',
        'drivers/arm/sfcp/sfcp_psa/sfcp_psa_protocol/sfcp_psa_protocol.c',
        'drivers/arm/sfcp/sfcp_psa/sfcp_psa_protocol/sfcp_psa_protocol_pointer_access.c',
        'drivers/arm/sfcp/sfcp_psa/sfcp_psa_protocol/sfcp_psa_protocol_embed.c',
        'lib/psa/measured_boot.c',
        'lib/psa/delegated_attestation.c',
        'lib/psa/rse_platform.c',
      ),
      join(HERE, 'tfa-client/link_hal.c'),
      join(HERE, 'tfa-client/main.c'),
      '-o',
      out,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, `gcc failed:\n${r.stderr}`);
  return out;
}

test("TF-A v2.15.0's SFCP client and lib/psa calls against rse serve: embed and pointer access, results checked", {
  skip: oracleSkip('gcc'),
}, async () => {
  const client = buildClient();
  const store = exampleFixture('rse-2.3').store.clone();
  const calls: { kind: string; handle?: number; type?: number; status: number }[] = [];
  const server = new RseServer(Device.open(store), { permissions: 'open', onCall: (c) => calls.push(c) });
  assert.equal(server.boot().ok, true);
  const path = await server.listen({ path: join(tempDir(), 'rse.sock') });
  const lines = new Map<string, string[]>();
  try {
    const child = spawn(client, [], { env: { ...process.env, RSE_SOCKET: path }, stdio: ['pipe', 'pipe', 'inherit'] });
    const done = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
    for await (const line of createInterface({ input: child.stdout })) {
      const [name, ...rest] = line.split(' ');
      lines.set(name as string, rest);
      // The token binds the DAK: the driver waits for the hash of the public key of the private
      // key it was given (as the RMM computes it).
      if (name === 'DAK') child.stdin.end(`${toHex(hash('sha256', ecPublicFromPrivate('P-384', fromHex(rest[1] ?? ''))))}\n`);
    }
    assert.equal(await done, 0);
  } finally {
    await server.close();
  }
  const get = (k: string): string[] => {
    const v = lines.get(k);
    assert.ok(v !== undefined, `no ${k} line: ${JSON.stringify([...lines])}`);
    return v;
  };
  assert.equal(get('EXTEND')[0], '0', 'measured boot extend succeeds');
  // The slot holds the extend of its empty value with the measurement: H(0³² ‖ measurement).
  const extended = hash(
    'sha256',
    new Uint8Array(32),
    Uint8Array.from({ length: 32 }, (_, i) => i),
  );
  assert.deepEqual(get('READ_MEAS'), ['0', toHex(extended)], 'slot 8 reads back the extended value');
  assert.deepEqual(get('READ_SIGNER'), ['0', '11'.repeat(32)]);
  assert.deepEqual(get('READ_INFO'), ['0', '1.2.3', 'BL_2', '0x02000009', '0']);
  const [dakStatus, dak] = get('DAK');
  assert.equal(dakStatus, '0');
  assert.equal(dak?.length, 2 * 48, 'the P-384 DAK private scalar, as the RMM receives it');
  const dakHash = hash('sha256', ecPublicFromPrivate('P-384', fromHex(dak ?? '')));
  const [tokStatus, tok] = get('TOKEN');
  assert.equal(tokStatus, '0');
  const claims = decodeCose(fromHex(tok ?? '')).payload;
  assert.ok(Buffer.from(claims).includes(Buffer.from(dakHash)), 'the token is bound to the DAK it delivered');
  const [r1, inc, r2, before, after] = get('NV');
  assert.deepEqual([r1, inc, r2], ['0', '0', '0']);
  assert.equal(Number(after), Number(before) + 1, 'the NV counter went up by one');
  const [entStatus, entropy] = get('ENTROPY');
  assert.equal(entStatus, '0');
  assert.notEqual(entropy, '00'.repeat(32), 'entropy came back');
  // TF-A chose embed for the NV counter calls and pointer access for the others.
  assert.deepEqual(
    calls.map((c) => [c.kind, c.handle, c.type, c.status]),
    [
      ['pointer', 0x40000110, 1002, 0],
      ['pointer', 0x40000110, 1001, 0],
      ['pointer', 0x40000111, 1001, 0],
      ['pointer', 0x40000111, 1002, 0],
      ['embed', 0x40000105, 1010, 0],
      ['embed', 0x40000105, 1011, 0],
      ['embed', 0x40000105, 1010, 0],
      ['pointer', 0x40000100, 0, 0],
    ],
  );
});
