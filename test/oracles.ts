/**
 * The one skip mechanism for reference tools (test oracles): Debian's fiptool, sgdisk, srec_cat,
 * mkimage, util-linux `script`, man-db's man, Debian's headless chromium, SoftHSM2, python3 with cbor2 and cryptography, PostgreSQL, and TypeScript
 * 5.4 for the consumer type check. A test whose oracle is missing is skipped with the way to get
 * it; CI installs them all and sets RSE_REQUIRE_ORACLES=1, and then a missing oracle fails.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** CI installs the oracles and sets RSE_REQUIRE_ORACLES=1: then a missing tool fails the test. */
export const requireOracles = process.env.RSE_REQUIRE_ORACLES === '1';

export function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

function pythonWith(modules: string): string | undefined {
  return ['/usr/bin/python3', 'python3'].find((p) => {
    try {
      execFileSync(p, ['-c', `import ${modules}`], { stdio: 'ignore' });
      return p.startsWith('/') ? existsSync(p) : true;
    } catch {
      return false;
    }
  });
}

function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const v = readdirSync(root).sort().pop();
  const bin = v === undefined ? undefined : join(root, v, 'bin');
  return bin !== undefined && existsSync(join(bin, 'initdb')) ? bin : undefined;
}

/** TypeScript 5.4's `tsc`, from RSE_TSC_5_4 (CI installs it outside the project). */
function tsc54(): string | undefined {
  const p = process.env.RSE_TSC_5_4;
  return p !== undefined && existsSync(p) ? p : undefined;
}

interface Oracle {
  /** Where it is (a path or command), or undefined when absent. */
  readonly find: () => string | undefined;
  /** How to get it. */
  readonly how: string;
}

const tool = (name: string, pkg: string): Oracle => ({ find: () => (hasTool(name) ? name : undefined), how: `apt-get install ${pkg}` });

export const ORACLES = {
  fiptool: tool('fiptool', 'arm-trusted-firmware-tools'),
  sgdisk: tool('sgdisk', 'gdisk'),
  srec_cat: tool('srec_cat', 'srecord'),
  mkimage: tool('mkimage', 'u-boot-tools'),
  script: tool('script', 'util-linux'),
  gcc: tool('gcc', 'gcc libc6-dev'),
  man: tool('man', 'man-db'),
  bash: tool('bash', 'bash'),
  chromium: tool('chromium', 'chromium'),
  softhsm2: {
    find: () =>
      hasTool('softhsm2-util')
        ? [
            '/usr/lib/softhsm/libsofthsm2.so',
            '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
            '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
          ].find(existsSync)
        : undefined,
    how: 'apt-get install softhsm2 (and npm ci with the optional pkcs11js built)',
  },
  python: { find: () => pythonWith('cryptography'), how: 'apt-get install python3-cryptography' },
  'python-cbor2': { find: () => pythonWith('cbor2, cryptography'), how: 'apt-get install python3-cbor2 python3-cryptography' },
  postgresql: { find: postgresBin, how: 'apt-get install postgresql' },
  'tsc-5.4': {
    find: tsc54,
    how: 'npm install --prefix /tmp/ts54 typescript@5.4.5 and set RSE_TSC_5_4=/tmp/ts54/node_modules/typescript/bin/tsc',
  },
} as const satisfies Record<string, Oracle>;

export type OracleName = keyof typeof ORACLES;

const found = new Map<OracleName, string | undefined>();

/** Where the oracle is, or undefined (looked up once per process). */
export function oracle(name: OracleName): string | undefined {
  if (!found.has(name)) found.set(name, ORACLES[name].find());
  return found.get(name);
}

/**
 * `test(..., { skip })` value: false when the oracle is there; a reason to skip when it is absent
 * and CI does not require it; under RSE_REQUIRE_ORACLES=1 a missing oracle throws, failing the file.
 */
export function oracleSkip(name: OracleName): string | false {
  if (oracle(name) !== undefined) return false;
  if (requireOracles) throw new Error(`${name} is required (RSE_REQUIRE_ORACLES=1) but missing: ${ORACLES[name].how}`);
  return `${name} is not installed (${ORACLES[name].how})`;
}
