/**
 * The SPM's host-memory rules for pointer-access messages (`comms_permissions_memory_check` of
 * TC), over the socket: each window, each link, read and write, and the window's edges. A message
 * whose buffers break a rule is refused with PSA_ERROR_CONNECTION_BUSY and a reason naming the
 * vector; a rule that is loosened or tightened fails here.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { RseClient } from '../../src/comms/client.ts';
import { RseServer } from '../../src/comms/server.ts';
import { PSA } from '../../src/services/psa.ts';
import type { HostLink } from '../../src/services/spm.ts';
import { deviceOf, exampleFixture } from '../boot/examples.ts';
import { tempDir } from '../helpers.ts';

interface Case {
  readonly link: HostLink;
  readonly base: bigint;
  /** The RSE reads the buffers (nvIncrement: one in_vec) / also writes them (nvRead: an out_vec). */
  readonly read: boolean;
  readonly write: boolean;
}

const CASES: readonly Case[] = [
  // The AP monitor's read-only window (AP boot SRAM, 0x0..0x80000): read yes, write no; not for the NS link.
  { link: 'ap-monitor', base: 0x0n, read: true, write: false },
  { link: 'ap-monitor', base: 0x7ff00n, read: true, write: false },
  { link: 'ap-ns', base: 0x0n, read: false, write: false },
  // The AP monitor's read-write window (0x4000000..0x4080000); not for the NS link.
  { link: 'ap-monitor', base: 0x4000000n, read: true, write: true },
  { link: 'ap-ns', base: 0x4000000n, read: false, write: false },
  // Read-only for every link (0x5000000..0x5080000).
  { link: 'ap-monitor', base: 0x5000000n, read: true, write: false },
  { link: 'ap-ns', base: 0x5000000n, read: true, write: false },
  // Read-write for every link (0x6000000..0x6080000).
  { link: 'ap-monitor', base: 0x6000000n, read: true, write: true },
  { link: 'ap-ns', base: 0x6000000n, read: true, write: true },
  // Outside every window, and straddling a window's end (a buffer must end inside it).
  { link: 'ap-monitor', base: 0x7000000n, read: false, write: false },
  { link: 'ap-ns', base: 0x7000000n, read: false, write: false },
  { link: 'ap-ns', base: 0x607fffcn, read: false, write: false },
  { link: 'ap-monitor', base: 0x407fffen, read: false, write: false },
];

async function withServer<T>(link: HostLink, f: (path: string) => Promise<T>): Promise<T> {
  const server = new RseServer(deviceOf(exampleFixture('rse-2.1')), { link });
  assert.equal(server.boot().ok, true);
  const path = await server.listen({ path: join(tempDir(), 'rse.sock') });
  try {
    return await f(path);
  } finally {
    await server.close();
  }
}

for (const link of ['ap-monitor', 'ap-ns'] as const) {
  test(`host-memory rules for the ${link} link: each window read and written as TC allows`, async () => {
    await withServer(link, async (path) => {
      for (const c of CASES.filter((x) => x.link === link)) {
        const client = await RseClient.connect({ path }, { protocol: 'pointer', bufferBase: c.base });
        try {
          const at = `${link} at 0x${c.base.toString(16)}`;
          // One in_vec only: the RSE reads host memory.
          const inc = await client.nvIncrement(0);
          assert.equal(inc.protocol, 'pointer');
          if (c.read) assert.equal(inc.status, PSA.SUCCESS, `${at}: reading must be allowed`);
          else assert.equal(inc.status, PSA.ERROR_CONNECTION_BUSY, `${at}: reading must be refused`);
          // An in_vec and an out_vec: the RSE reads and writes host memory.
          const rd = await client.nvRead(0);
          if (c.read && c.write) {
            assert.equal(rd.status, PSA.SUCCESS, `${at}: writing must be allowed`);
            assert.equal(rd.outVecs[0]?.length, 4, `${at}: the counter came back through host memory`);
          } else assert.equal(rd.status, PSA.ERROR_CONNECTION_BUSY, `${at}: writing must be refused`);
        } finally {
          client.close();
        }
      }
    });
  });
}
