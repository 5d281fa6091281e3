// Bundles the command line (dist/cli/main.js and what it imports, rep's own
// modules and its dependencies) into dist/bin/: one file for the quick no-op
// path, and chunks that load only when a command needs them (the lazy imports
// of cli/program.ts stay lazy). Node then reads a few files instead of ~470
// modules on every start. The library (dist/src/) stays as tsc wrote it.
//
//   node scripts/bundle.mjs          (after tsc -p tsconfig.json; npm run build does both)
import { chmodSync, rmSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

/**
 * zod re-exports every language's error messages (z.locales, 60-odd modules,
 * two thirds of its code) and sets English from its own module. rep never
 * asks for another language, so the re-export is left empty: every command
 * that reads a Repfile parses that much less at start-up.
 */
const noZodLocales = {
  name: 'no-zod-locales',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer) ? { path: 'zod-locales', namespace: 'no-zod-locales' } : undefined);
    b.onLoad({ filter: /.*/, namespace: 'no-zod-locales' }, () => ({ contents: 'export {};', loader: 'js' }));
  },
};

const root = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const outdir = path.join(root, 'dist', 'bin');
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { rep: path.join(root, 'dist', 'cli', 'main.js') },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  // The CycloneDX library finds its own schema files next to itself (__dirname): it is loaded from
  // node_modules as it is, and only by the commands that write or check an SBOM.
  external: ['@cyclonedx/cyclonedx-library'],
  // The CommonJS dependencies call require() for Node's own modules.
  banner: { js: "import { createRequire as __repRequire } from 'node:module'; const require = __repRequire(import.meta.url);" },
  plugins: [noZodLocales],
  legalComments: 'none',
  logLevel: 'warning',
});
chmodSync(path.join(outdir, 'rep.mjs'), 0o755);
