// Bundles the CLI. Three outputs:
// - dist/rse.mjs: every verb, ESM with code splitting (the entry holds the dispatcher, each verb's
//   module and what it alone needs sit in dist/chunks/). Runs help, typos, and the verbs whose
//   dependencies are ESM-only (the embedded SQLite, pg and hono stay in node_modules).
// - dist/verbs/<file>.cjs: one standalone CommonJS CLI per src/cli file, holding only that file's
//   verbs. Node starts a CommonJS script faster than an ESM graph of chunks (no ESM loader, no
//   resolution of each chunk): `rse sign` takes about a quarter less time.
// - dist/rse.cjs: the `rse` binary, a few lines that pick one of the above by the verb.
// The library itself is the tsc output in dist/src.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '..');
rmSync(resolve(root, 'dist/chunks'), { recursive: true, force: true });
rmSync(resolve(root, 'dist/verbs'), { recursive: true, force: true });

// commander needs child_process only to run executable subcommands, which rse has none of;
// loading it (and net, streams) costs about 4 ms of every command, so it loads on first spawn.
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: args.path, namespace: 'lazy-builtin' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, () => ({
      contents: "let cp; module.exports = { spawn: (...a) => (cp ??= require('node:child_process')).spawn(...a) };",
      loader: 'js',
    }));
  },
};

// In the ESM bundle, Node's built-in modules are taken with require(), not import: an ESM import of
// a built-in builds a facade that reads every export, and reading node:fs's ReadStream loads the
// whole streams stack (about 2 ms of a 40 ms command). A require() reads only what the code uses.
const builtinsByRequire = {
  name: 'builtins-by-require',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) =>
      args.namespace === 'builtin' || args.namespace === 'lazy-builtin'
        ? { path: args.path, external: true }
        : { path: args.path, namespace: 'builtin' },
    );
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

// libsql loads its native binary from its platform package; the verifier's server stack stays in node_modules.
const ESM_ONLY = ['libsql', 'pg', 'hono', '@hono/node-server'];

await build({
  entryPoints: { rse: resolve(root, 'src/cli/rse.ts') },
  outdir: resolve(root, 'dist'),
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  plugins: [lazyChildProcess, builtinsByRequire],
  external: ESM_ONLY,
  // commander is CommonJS: give each file a `require` for its built-in imports.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __rseCreateRequire } from 'node:module';\nconst require = __rseCreateRequire(import.meta.url);",
  },
});

// The verb -> file table, read from its one literal in main.ts.
const mainSrc = readFileSync(resolve(root, 'src/cli/main.ts'), 'utf8');
const table = /export const VERB_FILES = \{([^}]*)\}/.exec(mainSrc);
if (table === null) throw new Error('bundle: VERB_FILES not found in src/cli/main.ts');
const verbFiles = Object.fromEntries([...table[1].matchAll(/^\s*'?([a-z0-9-]+)'?: '([a-z0-9-]+)',$/gm)].map((m) => [m[1], m[2]]));
const files = [...new Set(Object.values(verbFiles))];

// A standalone CLI for `file`: main.ts with every other verb file replaced by a stub that is never
// loaded (the binary only sends this file's verbs here).
function standalone(file) {
  const others = new Set(files.filter((f) => f !== file).map((f) => `./${f}.ts`));
  return build({
    stdin: { contents: "import { runProcess } from './src/cli/process.ts';\nvoid runProcess();\n", resolveDir: root, loader: 'ts' },
    outfile: resolve(root, `dist/verbs/${file}.cjs`),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    logLevel: 'warning',
    external: ESM_ONLY,
    define: { 'import.meta.url': '__rseFileUrl' },
    banner: { js: "const __rseFileUrl = require('node:url').pathToFileURL(__filename).href;" },
    plugins: [
      lazyChildProcess,
      {
        name: 'other-verbs-elsewhere',
        setup(b) {
          b.onResolve({ filter: /^\.\/[a-z0-9-]+\.ts$/ }, (args) =>
            args.importer.endsWith('src/cli/main.ts') && others.has(args.path) ? { path: args.path, namespace: 'elsewhere' } : undefined,
          );
          b.onLoad({ filter: /.*/, namespace: 'elsewhere' }, (args) => ({
            contents: `throw new Error(${JSON.stringify(`rse: ${args.path} is not part of this standalone bundle`)});`,
            loader: 'js',
          }));
        },
      },
    ],
    write: false,
  });
}

mkdirSync(resolve(root, 'dist/verbs'), { recursive: true });
const standaloneFiles = [];
for (const file of files) {
  const out = await standalone(file);
  const code = out.outputFiles[0].text;
  // Files that reach an ESM-only dependency run from the ESM bundle instead.
  if (ESM_ONLY.some((m) => code.includes(`require("${m}")`) || code.includes(`import("${m}")`))) continue;
  writeFileSync(resolve(root, `dist/verbs/${file}.cjs`), code);
  standaloneFiles.push(file);
}
const fast = Object.fromEntries(Object.entries(verbFiles).filter(([, f]) => standaloneFiles.includes(f)));

// The help index (every verb, its arguments and options) from the tsc output: the binary prints the
// top-level help and completion scripts from it without loading a verb; the man pages are made from it.
const { helpIndex } = await import(resolve(root, 'dist/src/cli/main.js'));
const { manPages } = await import(resolve(root, 'dist/src/cli/man.js'));
const index = await helpIndex();
writeFileSync(resolve(root, 'dist/help-index.json'), JSON.stringify(index));
rmSync(resolve(root, 'dist/man'), { recursive: true, force: true });
mkdirSync(resolve(root, 'dist/man/man1'), { recursive: true });
for (const [name, text] of manPages(index)) writeFileSync(resolve(root, 'dist/man/man1', name), text);
// npm installs the pages package.json lists (`man`): the list must name exactly the pages made.
const listed = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')).man ?? [];
const made = [...manPages(index).keys()].map((n) => `dist/man/man1/${n}`);
if (JSON.stringify([...listed].sort()) !== JSON.stringify([...made].sort())) {
  throw new Error(`bundle: package.json "man" must list the pages made:\n${JSON.stringify(made, null, 2)}`);
}
await build({
  stdin: {
    contents: "import { fastHelp } from './src/cli/help-main.ts';\nmodule.exports = fastHelp;\n",
    resolveDir: root,
    loader: 'ts',
  },
  outfile: resolve(root, 'dist/verbs/help.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
});

writeFileSync(
  resolve(root, 'dist/rse.cjs'),
  `#!/usr/bin/env node
'use strict';
// The rse binary (generated by scripts/bundle.mjs): --version, the top-level help and completion
// scripts are answered here; a verb whose file has a standalone CommonJS bundle runs from it;
// anything else (other verbs, a verb's help, a typo) from the ESM bundle.
const argv = process.argv.slice(2);
const first = argv[0];
let done;
if (argv.length === 1 && (first === '--version' || first === '-V')) {
  process.stdout.write(require('../package.json').version + '\\n');
  done = 0;
} else if (argv.length === 0 || (argv.length === 1 && ['-h', '--help', 'help'].includes(first)) || first === 'completion') {
  done = require('./verbs/help.cjs')(argv, require('node:url').pathToFileURL(__dirname + '/help-index.json'));
}
if (done !== undefined) process.exitCode = done;
else {
  const file = ${JSON.stringify(fast)}[first];
  if (file !== undefined) require(\`./verbs/\${file}.cjs\`);
  else import('./rse.mjs');
}
`,
  { mode: 0o755 },
);

// Smoke check: every verb sent to a standalone bundle answers --help from it.
for (const verb of Object.keys(fast)) {
  const r = spawnSync(process.execPath, [resolve(root, 'dist/rse.cjs'), verb, '--help'], { encoding: 'utf8' });
  if (r.status !== 0 || r.stdout === '') {
    throw new Error(`bundle: 'rse ${verb} --help' from dist/verbs/${fast[verb]}.cjs failed (exit ${r.status}): ${r.stderr}${r.stdout}`);
  }
}
