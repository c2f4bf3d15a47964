/**
 * A SoftHSM2 token for the PKCS#11 tests: `rsekit`, user PIN 1234, in a temporary directory. The
 * module reads its configuration once per process, so a test file makes one token and every test
 * in it adds its keys (PEM files imported with `softhsm2-util`) to that one.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers.ts';
import { oracle } from './oracles.ts';

let tokenDir: string | undefined;
let nextId = 1;

/** The token of this process (made on first use) with `keys` (label → PEM file) imported; its module and directory. */
export function softToken(keys: Record<string, string> = {}): { module: string; dir: string } {
  if (tokenDir === undefined) {
    tokenDir = tempDir();
    mkdirSync(join(tokenDir, 'tokens'));
    writeFileSync(
      join(tokenDir, 'softhsm2.conf'),
      `directories.tokendir = ${join(tokenDir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`,
    );
    process.env.SOFTHSM2_CONF = join(tokenDir, 'softhsm2.conf');
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'rsekit', '--so-pin', '5678', '--pin', '1234'], {
      stdio: 'ignore',
    });
  }
  for (const [label, pem] of Object.entries(keys))
    execFileSync(
      'softhsm2-util',
      ['--import', pem, '--token', 'rsekit', '--label', label, '--id', (nextId++).toString(16).padStart(4, '0'), '--pin', '1234'],
      { stdio: 'ignore' },
    );
  return { module: oracle('softhsm2') as string, dir: tokenDir };
}
