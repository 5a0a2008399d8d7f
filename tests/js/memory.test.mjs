// Wasm memory comes back: 200 create/run/release cycles of an InferenceSession, and 20
// load/quantize/release cycles, leave the core's allocated bytes (wasmMemory().inUse, counted by
// the allocator wrapper in src/bindings/memory.rs) exactly where they started, and the linear
// memory (which only grows) no larger. A forgotten session is freed by the FinalizationRegistry
// once it is garbage-collected (checked in a child process with --expose-gc).
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { InferenceSession, Tensor, loadModel, quantize, wasmMemory } from '../../js/index.js';
import { ROOT, readBytes, MNIST_MODEL, npy, rows } from './helpers.mjs';

const MNIST = readBytes(MNIST_MODEL);

test('200 create/run/release cycles leave wasm memory where it started', async () => {
  const input = rows(npy('ref/mnist/test_x.npy'), 0, 8, Tensor);
  const cycle = async () => {
    const s = await InferenceSession.create(MNIST);
    const out = await s.run({ input });
    assert.deepEqual(out.logits.dims, [8, 10]);
    const live = wasmMemory().inUse;
    await s.release();
    return live;
  };
  await cycle(); // warm up: lazily built tables, first growth of the linear memory
  const before = wasmMemory();
  assert.ok(before.linear > 0 && before.inUse > 0, JSON.stringify(before));
  let peak = 0;
  for (let i = 0; i < 200; i++) peak = Math.max(peak, await cycle());
  const afterRuns = wasmMemory();
  console.log(`sessions: in use ${before.inUse} → ${afterRuns.inUse} bytes (${before.allocations} → ${afterRuns.allocations} allocations), `
    + `${peak} with a session alive, linear memory ${before.linear} → ${afterRuns.linear}`);
  assert.ok(peak > before.inUse + MNIST.length / 2, 'a live session holds memory (the counter counts)');
  assert.equal(afterRuns.inUse, before.inUse);
  assert.equal(afterRuns.allocations, before.allocations);
  assert.equal(afterRuns.linear, before.linear);
});

test('load/quantize/release cycles leave wasm memory where it started', async () => {
  const x = npy('ref/mnist/test_x.npy');
  const calibration = [{ input: rows(x, 0, 20, Tensor) }, { input: rows(x, 20, 40, Tensor) }];
  let size = 0;
  const cycle = async () => {
    const model = await loadModel(MNIST);
    const { bytes } = await quantize(model, { calibration });
    model.release();
    const s = await InferenceSession.create(bytes, { engine: 'int8' });
    await s.run({ input: calibration[0].input });
    await s.release();
    size = bytes.length;
  };
  await cycle();
  const before = wasmMemory();
  for (let i = 0; i < 20; i++) await cycle();
  const after = wasmMemory();
  console.log(`quantize: in use ${before.inUse} → ${after.inUse} bytes, linear memory ${before.linear} → ${after.linear} (model ${size} bytes)`);
  assert.equal(after.inUse, before.inUse);
  assert.equal(after.allocations, before.allocations);
  assert.equal(after.linear, before.linear);
});

test('a session that is never released is freed by the FinalizationRegistry after GC', () => {
  const script = `
    import { InferenceSession, wasmMemory } from ${JSON.stringify(path.join(ROOT, 'js', 'index.js'))};
    import fs from 'node:fs';
    const bytes = fs.readFileSync(${JSON.stringify(MNIST_MODEL)});
    await (await InferenceSession.create(bytes)).release();
    const base = wasmMemory().inUse;
    for (let i = 0; i < 20; i++) await InferenceSession.create(bytes); // dropped, never released
    const held = wasmMemory().inUse;
    let now = held;
    for (let i = 0; i < 50 && now !== base; i++) {
      globalThis.gc();
      await new Promise((r) => setTimeout(r, 20));
      now = wasmMemory().inUse;
    }
    console.log(JSON.stringify({ base, held, now }));
  `;
  const r = spawnSync(process.execPath, [...process.execArgv.filter((a) => !a.startsWith('--test')), '--expose-gc', '--input-type=module', '-e', script],
    { encoding: 'utf8', env: process.env });
  assert.equal(r.status, 0, r.stderr);
  const { base, held, now } = JSON.parse(r.stdout.trim().split('\n').at(-1));
  console.log(`finalization: ${base} bytes, ${held} with 20 forgotten sessions, ${now} after GC`);
  assert.ok(held > base);
  assert.equal(now, base);
});
