// Bundles the CLI (dist/rse.mjs) with code splitting: the entry holds the dispatcher, and each verb's
// module and what it alone needs sit in chunks (dist/chunks/), so `rse fip …` compiles the FIP code
// and not the verifier. A handful of files instead of the dozens of tsc modules; the library itself
// is the tsc output in dist/src.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

rmSync('dist/chunks', { recursive: true, force: true });

// Node's built-in modules are taken with require(), not import: an ESM import of a built-in builds
// a facade that reads every export, and reading node:fs's ReadStream loads the whole streams stack
// (about 2 ms of a 40 ms command). A require() reads only what the code uses.
const builtinsByRequire = {
  name: 'builtins-by-require',
  setup(b) {
    // commander needs child_process only to run executable subcommands, which rse has none of;
    // loading it (and net, streams) costs about 4 ms of every command, so it loads on first spawn.
    b.onResolve({ filter: /^node:child_process$/ }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: args.path, namespace: 'lazy-builtin' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, () => ({
      contents: "let cp; module.exports = { spawn: (...a) => (cp ??= require('node:child_process')).spawn(...a) };",
      loader: 'js',
    }));
    b.onResolve({ filter: /^node:/ }, (args) =>
      args.namespace === 'builtin' ? { path: args.path, external: true } : { path: args.path, namespace: 'builtin' },
    );
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

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
  plugins: [builtinsByRequire],
  // PGlite loads its WebAssembly next to its own module; the verifier's server stack stays in node_modules.
  external: ['@electric-sql/pglite', 'pg', 'hono', '@hono/node-server'],
  // commander is CommonJS: give each file a `require` for its built-in imports.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __rseCreateRequire } from 'node:module';\nconst require = __rseCreateRequire(import.meta.url);",
  },
});
