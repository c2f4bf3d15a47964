/**
 * Token verification measured in a process of its own (so the bench's own heap and servers do not
 * weigh on it): `node token-verify.js TOKEN KEY COUNT` decodes and verifies the CCA collection
 * TOKEN under the platform key KEY, COUNT times after a warm-up, and prints
 * `{"units": P-384 verifications, "cpuMs": …}` for the loop alone.
 */
import { readFileSync } from 'node:fs';
import { decodeEvidence, verifyEvidence } from '../src/attestation/index.ts';
import { loadTokenKey } from '../src/cose/keys.ts';
import { cpuMs } from './cpu.ts';

const [tokenPath, keyPath, count] = process.argv.slice(2);
if (tokenPath === undefined || keyPath === undefined) throw new Error('usage: token-verify.js TOKEN KEY [COUNT]');
const bytes = new Uint8Array(readFileSync(tokenPath));
const key = loadTokenKey(new Uint8Array(readFileSync(keyPath)));
const n = Number(count ?? 1000);
const once = (): void => verifyEvidence(decodeEvidence(bytes), key);
for (let i = 0; i < 100; i++) once();
const ms = cpuMs(() => {
  for (let i = 0; i < n; i++) once();
});
// Two P-384 verifications per collection: platform and realm.
process.stdout.write(`${JSON.stringify({ units: 2 * n, cpuMs: ms })}\n`);
