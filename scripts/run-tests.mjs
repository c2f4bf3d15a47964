// Runs every test/**/*.test.ts with node:test through tsx (Node 20 has no test globs). The API
// tests load the package through its exports (dist/): when dist/ is missing or older than a
// source file, it is built first.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function walk(dir, suffix, skip = []) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return skip.includes(name) ? [] : walk(p, suffix, skip);
    return p.endsWith(suffix) ? [p] : [];
  });
}

const built = 'dist/src/index.js';
const newest = Math.max(...walk('src', '.ts').map((p) => statSync(p).mtimeMs), statSync('package.json').mtimeMs);
if (!existsSync(built) || statSync(built).mtimeMs < newest) {
  process.stdout.write('# dist/ is missing or older than src/: building first (npm run build)\n');
  const b = spawnSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}

const files = process.argv.length > 2 ? process.argv.slice(2) : walk('test', '.test.ts', ['fixtures']).sort();
const r = spawnSync(process.execPath, ['--enable-source-maps', '--import', 'tsx', '--test', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
