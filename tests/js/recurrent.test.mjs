// A CRNN-style text recognizer (Conv -> Reshape/Transpose -> bidirectional LSTM -> MatMul, from
// tests/fixtures/make_recurrent_cases.py) through the command line with its default options:
// `webptq quantize --calib calib.npy` keeps the LSTM float and quantizes the Conv / MatMul
// layers; onnxruntime (the .venv's) runs the export on the test lines close to the float model,
// and our session runs the export as onnxruntime does.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InferenceSession, readNpy } from '../../js/index.js';
import { ROOT, fixture, readBytes, diff, fmtDiff } from './helpers.mjs';

const run = (cmd, args) => spawnSync(cmd, args, { encoding: 'utf8', env: process.env });

test('CRNN: CLI defaults quantize around a float LSTM; onnxruntime runs the export', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webptq-crnn-'));
  const model = fixture('recurrent/crnn/model.onnx');
  const out = path.join(dir, 'crnn.int8.onnx');
  const report = path.join(dir, 'report.json');
  const node = [...process.execArgv.filter((a) => !a.startsWith('--test')), path.join(ROOT, 'bin', 'webptq.js')];
  const q = run(process.execPath, [...node, 'quantize', model, '-o', out, '--calib', fixture('recurrent/crnn/calib.npy'), '--report', report]);
  assert.equal(q.status, 0, q.stderr);
  const decisions = Object.fromEntries(JSON.parse(fs.readFileSync(report, 'utf8')).nodes.map((n) => [n.name, n.decision]));
  for (const name of ['conv1', 'conv2', 'conv3', 'fc']) assert.equal(decisions[name], 'quantized', name);
  assert.equal(decisions.blstm, 'float');

  // onnxruntime: the float model and the export on the test lines.
  const py = run(path.join(ROOT, '.venv', 'bin', 'python'), ['-c', `
import json, sys
import numpy as np, onnx, onnxruntime as ort
from onnx import numpy_helper
model, export, data, dir = sys.argv[1:]
x = numpy_helper.to_array(onnx.load_tensor(data))
onnx.checker.check_model(onnx.load(export), full_check=True)
f = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
q = ort.InferenceSession(export, providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
np.save(dir + "/x.npy", x)
np.save(dir + "/ort_int8.npy", q)
sqnr = 10 * np.log10((f.astype(np.float64) ** 2).sum() / ((f.astype(np.float64) - q) ** 2).sum())
print(json.dumps({"sqnr": float(sqnr), "agree": float((f.argmax(-1) == q.argmax(-1)).mean())}))
`, model, out, fixture('recurrent/crnn/test_data_set_0/input_0.pb'), dir]);
  assert.equal(py.status, 0, py.stderr);
  const { sqnr, agree } = JSON.parse(py.stdout.trim().split('\n').pop());
  assert.ok(sqnr >= 25, `onnxruntime: export vs float SQNR ${sqnr.toFixed(1)} dB`);
  assert.ok(agree >= 0.9, `onnxruntime: best class agrees on ${agree} of frames`);

  // Our runtime on the export, against onnxruntime's run of the same file.
  const session = await InferenceSession.create(readBytes(out));
  try {
    const x = readNpy(readBytes(path.join(dir, 'x.npy')));
    const want = readNpy(readBytes(path.join(dir, 'ort_int8.npy')));
    const got = (await session.run({ image: x })).log_probs;
    assert.deepEqual(got.dims, want.dims);
    const d = diff(got.data, want.data);
    assert.ok(d.relL2 < 0.02, `export: ours vs onnxruntime ${fmtDiff(d)}`);
  } finally {
    session.release();
  }
  fs.rmSync(dir, { recursive: true, force: true });
});
