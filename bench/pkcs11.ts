/**
 * `npm run bench`, the PKCS#11 section: `rse sign` of a 1 KiB and a 16 MiB payload with an ECDSA
 * P-256 key held in SoftHSM2 (a token initialised in the bench's work directory, the key imported
 * from a PEM file) next to the same key as the PEM file, CPU time of the whole process (the token
 * library runs in it), the two interleaved round by round; medians of 5 rounds.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportPrivatePem, generateKey } from '../src/crypto/index.ts';
import { childCpuMs, median } from './cpu.ts';

const MODULES = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so'];

export function benchPkcs11(rseBin: string, work: string, env: NodeJS.ProcessEnv): string {
  const module = MODULES.find(existsSync);
  if (module === undefined) return '\nPKCS#11 (SoftHSM2): not installed (apt-get install softhsm2): skipped\n';
  const dir = join(work, 'pkcs11');
  mkdirSync(join(dir, 'tokens'), { recursive: true });
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const e = { ...env, SOFTHSM2_CONF: conf };
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'bench', '--so-pin', '5678', '--pin', '1234'], {
    env: e,
    stdio: 'ignore',
  });
  const pem = join(dir, 'p256.pem');
  writeFileSync(pem, exportPrivatePem(generateKey('ecdsa-p256')));
  execFileSync('softhsm2-util', ['--import', pem, '--token', 'bench', '--label', 'fw', '--id', '01', '--pin', '1234'], {
    env: e,
    stdio: 'ignore',
  });
  const uri = 'pkcs11:token=bench;object=fw?pin-value=1234';
  let out =
    '\nPKCS#11: rse sign with an ECDSA P-256 key in SoftHSM2 vs the same key as a PEM file (CPU ms of the process, median of 5 interleaved):\n';
  for (const [label, size] of [
    ['1 KiB', 1024],
    ['16 MiB', 16 << 20],
  ] as const) {
    const payload = join(dir, `payload-${size}.bin`);
    writeFileSync(payload, Buffer.alloc(size, 0x5a));
    const args = (key: string[]): string[] => [
      rseBin,
      'sign',
      ...key,
      '-v',
      '1.0.0',
      '-H',
      '0x400',
      '--pad-header',
      '-S',
      String(size + 0x2000),
      payload,
      join(dir, 'out.bin'),
    ];
    const token: number[] = [];
    const file: number[] = [];
    for (let round = 0; round < 5; round++) {
      token.push(childCpuMs(process.execPath, args(['-k', uri, '--pkcs11-module', module]), e));
      file.push(childCpuMs(process.execPath, args(['-k', pem]), e));
    }
    const t = median(token);
    const f = median(file);
    out += `  ${label.padEnd(8)} token ${t.toFixed(1).padStart(8)} ms   PEM ${f.toFixed(1).padStart(8)} ms   ratio ${(t / f).toFixed(2)}\n`;
  }
  return out;
}
