/**
 * Passphrases for encrypted keys, as imgtool asks for them: from the terminal, not echoed. The
 * RSE_KEY_PASSPHRASE environment variable, when set, answers instead (scripts, CI).
 * @module
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { RseError } from '../lib/errors.ts';

function stty(fd: number, arg: string): boolean {
  // Loaded on demand: child_process is only worth its start-up cost when a prompt is shown.
  const cp = process.getBuiltinModule('node:child_process');
  return cp.spawnSync('stty', [arg], { stdio: [fd, 'ignore', 'ignore'] }).status === 0;
}

/**
 * Shows `prompt` on the controlling terminal and reads one line with echo off. Undefined when the
 * process has no terminal (a pipe, CI): the caller then says how to give the passphrase instead.
 */
export function promptHidden(prompt: string): string | undefined {
  let fd: number;
  try {
    fd = openSync('/dev/tty', 'r+');
  } catch {
    return undefined;
  }
  try {
    const hidden = stty(fd, '-echo');
    writeSync(fd, hidden ? prompt : `${prompt}(stty is missing: what you type will show) `);
    const bytes: number[] = [];
    const one = Buffer.alloc(1);
    try {
      for (;;) {
        const n = readSync(fd, one, 0, 1, null);
        if (n === 0 || one[0] === 0x0a || one[0] === 0x0d) break;
        bytes.push(one[0] as number);
      }
    } finally {
      if (hidden) stty(fd, 'echo');
      writeSync(fd, '\n');
    }
    return Buffer.from(bytes).toString('utf8');
  } catch (e) {
    throw new RseError(
      'E_IO',
      `cannot read the passphrase from the terminal: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      {
        field: '/dev/tty',
      },
    );
  } finally {
    closeSync(fd);
  }
}

const env = (): string | undefined => {
  const v = process.env.RSE_KEY_PASSPHRASE;
  return v === undefined || v === '' ? undefined : v;
};

/** The passphrase of an encrypted key file: RSE_KEY_PASSPHRASE, else asked on the terminal. */
export function keyPassphrase(path: string): string {
  const given = env() ?? promptHidden('Enter key passphrase: ');
  if (given === undefined) {
    throw new RseError('E_KEY', `${path} is encrypted: set RSE_KEY_PASSPHRASE to its passphrase, or run on a terminal to be asked`, {
      field: path,
    });
  }
  return given;
}

/** A new key's passphrase (`keygen -p`): RSE_KEY_PASSPHRASE, else asked twice on the terminal until both agree. */
export function newKeyPassphrase(): string {
  const given = env();
  if (given !== undefined) return given;
  for (let attempt = 0; attempt < 3; attempt++) {
    const first = promptHidden('Enter key passphrase: ');
    if (first === undefined) break;
    const second = promptHidden('Reenter passphrase: ');
    if (first === second && first !== '') return first;
    process.stderr.write(first === second ? 'An empty passphrase protects nothing, try again\n' : 'Passwords do not match, try again\n');
    if (attempt === 2) throw new RseError('E_USAGE', 'no passphrase agreed on after 3 attempts', { field: '--password' });
  }
  throw new RseError('E_USAGE', '-p needs a terminal to ask for the passphrase, or the passphrase in RSE_KEY_PASSPHRASE', {
    field: '--password',
  });
}
