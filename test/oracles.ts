/** Reference tools from Debian's packages (fiptool, sgdisk, srec_cat) used as test oracles. */
import { execFileSync } from 'node:child_process';

/** CI installs the oracles and sets RSE_REQUIRE_ORACLES=1: then a missing tool fails the test. */
export const requireOracles = process.env.RSE_REQUIRE_ORACLES === '1';

export function hasTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** `test(..., { skip })` value: skip only when the tool is absent and CI does not require it. */
export function oracleSkip(name: string): string | false {
  if (hasTool(name)) return false;
  if (requireOracles) throw new Error(`${name} is required (RSE_REQUIRE_ORACLES=1) but not on PATH`);
  return `${name} not installed (apt-get install the Debian package to run this test)`;
}
