// Shared by the packaging tests (tests/js/pack.test.mjs in Node, tests/browser/pack.test.mjs in
// Chromium): `npm pack` of this checkout (without the prepack build: scripts/test.sh has built
// pkg/ already), installed into an empty project from the tarball alone, and the README's
// examples cut out of README.md exactly as printed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT } from './helpers.mjs';

function npm(args, cwd) {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } });
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}

/**
 * Packs the package and installs the tarball into a new empty project. Its two dependencies'
 * tarballs come from npm's cache, where `npm ci` put them (--prefer-offline); their registry
 * metadata, which `npm ci` never asks for because package-lock.json records no addresses, may
 * have to come from the registry on a new machine.
 * @returns {{ tmp: string, app: string, tarball: string, pack: { filename: string, size: number, unpackedSize: number, files: { path: string, size: number }[] } }}
 */
export function packAndInstall() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'webptq-pack-'));
  const [pack] = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], ROOT));
  const tarball = path.join(tmp, pack.filename);
  const app = path.join(tmp, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }, null, 2));
  npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--omit=dev', tarball], app);
  return { tmp, app, tarball, pack };
}

/** The first ```js block after the line of README.md that starts with `lead` (e.g. 'Node ('). */
export function readmeSnippet(lead) {
  const text = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const at = text.split('\n').findIndex((l) => l.startsWith(lead));
  if (at < 0) throw new Error(`README.md has no line starting with '${lead}'`);
  const rest = text.split('\n').slice(at).join('\n');
  const m = /```js\n([\s\S]*?)```/.exec(rest);
  if (!m) throw new Error(`README.md has no js block after '${lead}'`);
  return m[1];
}
