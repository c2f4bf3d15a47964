/**
 * Encrypted keys, as imgtool handles them: `keygen -p` asks twice on the terminal, loading an
 * encrypted key asks once; RSE_KEY_PASSPHRASE answers instead; without a terminal or variable the
 * command says how to give it. The terminal is a pseudo-terminal from util-linux `script`.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, tempDir } from '../helpers.ts';
import { oracleSkip } from '../oracles.ts';

const TSX = new URL('../../node_modules/tsx/dist/esm/index.mjs', import.meta.url).pathname;
const RSE = new URL('../../src/cli/rse.ts', import.meta.url).pathname;

/** Runs rse on a fresh pseudo-terminal that receives `typed`; returns what the terminal showed and the exit status. */
function onTerminal(args: readonly string[], typed: string): { shown: string; code: number } {
  const env = { ...process.env };
  delete env.RSE_KEY_PASSPHRASE;
  const cmd = [process.execPath, '--import', TSX, RSE, ...args].map((a) => `'${a}'`).join(' ');
  const r = spawnSync('script', ['-qec', `${cmd}; echo "[exit $?]"`, '/dev/null'], { input: typed, env, encoding: 'utf8' });
  const m = /\[exit (\d+)\]/.exec(r.stdout);
  return { shown: r.stdout.replace(/\r/g, ''), code: m === null ? -1 : Number(m[1]) };
}

describe('key passphrases', { skip: oracleSkip('script') }, () => {
  const dir = tempDir();
  const key = join(dir, 'enc.pem');

  it('keygen -p asks twice and writes an encrypted PKCS#8 key; the key then asks once', () => {
    const made = onTerminal(['keygen', '-t', 'ecdsa-p256', '-k', key, '-p'], 'correct horse\ncorrect horse\n');
    assert.equal(made.code, 0, made.shown);
    assert.match(made.shown, /Enter key passphrase: \nReenter passphrase: /);
    assert.match(readFileSync(key, 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    const used = onTerminal(['keyinfo', '-k', key], 'correct horse\n');
    assert.equal(used.code, 0, used.shown);
    assert.match(used.shown, /Enter key passphrase: \nprivate\n/);
  });

  it('a wrong passphrase is refused as such', () => {
    const r = onTerminal(['getpub', '-k', key], 'battery staple\n');
    assert.equal(r.code, 2, r.shown);
    assert.match(r.shown, /E_KEY: .*enc\.pem: wrong passphrase/);
  });

  it('keygen -p asks again when the two entries differ', () => {
    const other = join(dir, 'other.pem');
    const r = onTerminal(['keygen', '-t', 'ed25519', '-k', other, '-p'], 'one\ntwo\nthree\nthree\n');
    assert.equal(r.code, 0, r.shown);
    assert.match(r.shown, /Passwords do not match, try again/);
    assert.equal(onTerminal(['keyinfo', '-k', other], 'three\n').code, 0);
  });

  it('RSE_KEY_PASSPHRASE answers without a terminal; with neither the error says how', async () => {
    const saved = process.env.RSE_KEY_PASSPHRASE;
    try {
      process.env.RSE_KEY_PASSPHRASE = 'correct horse';
      const ok = await runCli(['keyinfo', '-k', key]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, 'private\n');
    } finally {
      if (saved === undefined) delete process.env.RSE_KEY_PASSPHRASE;
      else process.env.RSE_KEY_PASSPHRASE = saved;
    }
    // A new session has no controlling terminal: nothing to ask on.
    const env = { ...process.env };
    delete env.RSE_KEY_PASSPHRASE;
    const r = spawnSync('setsid', ['-w', process.execPath, '--import', TSX, RSE, 'keyinfo', '-k', key], {
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /enc\.pem is encrypted: set RSE_KEY_PASSPHRASE to its passphrase, or run on a terminal to be asked/);
  });
});
