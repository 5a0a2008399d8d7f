// Real models run by our engine in wasm under Node, compared with onnxruntime (Python) reference
// outputs from the fixture cache and with onnxruntime-web 1.30 run in this process on the same
// inputs. Each output must be within 1e-4 relative L2 of the reference.
import test from 'node:test';
import assert from 'node:assert/strict';
import { InferenceSession } from '../../js/index.js';
import { fixture, readBytes, npy, diff, fmtDiff, argmax, runOrt, MODELS, feedsOf } from './helpers.mjs';

const TOLERANCE = 1e-4;

for (const spec of MODELS) {
  test(`parity: ${spec.name} matches onnxruntime`, async () => {
    const bytes = readBytes(fixture(spec.file));
    const t0 = performance.now();
    const session = await InferenceSession.create(bytes);
    const feeds = feedsOf(spec, session.inputNames);
    const t1 = performance.now();
    const ours = await session.run(feeds);
    const t2 = performance.now();
    await session.release();
    const web = await runOrt(bytes, feeds);
    const t3 = performance.now();
    for (const [name, file] of spec.outputs) {
      const output = name ?? Object.keys(ours)[0];
      assert.ok(output in ours, `${spec.name}: our session has no output '${output}' (it has ${Object.keys(ours).join(', ')})`);
      const ref = npy(`ref/${spec.name}/${file}`);
      const got = ours[output];
      assert.deepEqual(got.dims, ref.dims, `${spec.name} '${output}' shape`);
      const vsRef = diff(got.data, ref.data);
      const vsWeb = diff(got.data, web[output].data);
      const webVsRef = diff(web[output].data, ref.data);
      let top1 = '';
      if (spec.classes) {
        const a = argmax(got.data, spec.classes);
        const b = argmax(ref.data, spec.classes);
        top1 = `, top-1 agrees ${a.filter((v, i) => v === b[i]).length}/${a.length}`;
      }
      console.log(`${spec.name} '${output}' ${JSON.stringify(got.dims)}: vs onnxruntime ${fmtDiff(vsRef)}; `
        + `vs onnxruntime-web ${fmtDiff(vsWeb)}${top1} (onnxruntime-web vs onnxruntime: ${fmtDiff(webVsRef)}); `
        + `ours: load ${(t1 - t0).toFixed(0)} ms, run ${(t2 - t1).toFixed(0)} ms; onnxruntime-web load+run ${(t3 - t2).toFixed(0)} ms`);
      assert.ok(vsRef.relL2 <= TOLERANCE, `${spec.name} '${output}' vs onnxruntime: ${fmtDiff(vsRef)}`);
      assert.ok(vsWeb.relL2 <= TOLERANCE, `${spec.name} '${output}' vs onnxruntime-web: ${fmtDiff(vsWeb)}`);
    }
  });
}
