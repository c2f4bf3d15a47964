// Bundles the CLI (dist/rse.mjs) with code splitting: the entry holds the dispatcher, and each verb's
// module and what it alone needs sit in chunks (dist/chunks/), so `rse fip …` compiles the FIP code
// and not the verifier. A handful of files instead of the dozens of tsc modules; the library itself
// is the tsc output in dist/src.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

rmSync('dist/chunks', { recursive: true, force: true });

await build({
  entryPoints: { rse: 'src/cli/rse.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  // PGlite loads its WebAssembly next to its own module; the verifier's server stack stays in node_modules.
  external: ['@electric-sql/pglite', 'pg', 'hono', '@hono/node-server'],
  // commander is CommonJS: give each file a `require` for its built-in imports.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __rseCreateRequire } from 'node:module';\nconst require = __rseCreateRequire(import.meta.url);",
  },
});
