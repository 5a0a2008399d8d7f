// js/index.d.ts type-checks (tsc --strict, DOM and disposable libs) together with a file that
// uses the whole API as the README and the doc comments do (tests/js/types-usage.ts); a wrong
// option value there must fail the check.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT } from './helpers.mjs';

const TSC = path.join(ROOT, 'node_modules', '.bin', 'tsc');
const USAGE = path.join(ROOT, 'tests', 'js', 'types-usage.ts');

function check(file) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webptq-types-'));
  const config = path.join(dir, 'tsconfig.json');
  fs.writeFileSync(config, JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext',
      lib: ['es2022', 'dom', 'esnext.disposable'], types: [],
    },
    files: [file],
  }));
  const r = spawnSync(TSC, ['-p', config], { encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  return r;
}

test('index.d.ts type-checks with a file using the whole API', () => {
  assert.ok(fs.existsSync(TSC), 'typescript is a devDependency (npm ci installs it)');
  const ok = check(USAGE);
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  // The check has teeth: an engine that does not exist is an error.
  const bad = path.join(ROOT, 'tests', 'js', `types-bad-${process.pid}.ts`);
  fs.writeFileSync(bad, fs.readFileSync(USAGE, 'utf8').replace("engine: 'int8'", "engine: 'int4'"));
  try {
    const r = check(bad);
    assert.notEqual(r.status, 0);
    assert.match(r.stdout, /int4/);
  } finally {
    fs.rmSync(bad, { force: true });
  }
});
