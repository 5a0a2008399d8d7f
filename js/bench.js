// The benchmark core shared by `npm run bench` (benches/models.mjs), the browser page
// (benches/page.html, driven by benches/browser.mjs) and `webptq bench` (bin/webptq.js).
//
// Up to four runners per model: webptq float, webptq int8, onnxruntime-web float, onnxruntime-web
// int8. They run side by side in one JavaScript realm, interleaved: every round runs each runner
// once, in an order rotated from round to round, so drift of a shared machine (other processes,
// thermal state, GC) lands on all of them alike and the ratios stay meaningful even when absolute
// times wander. Latency is the wall time of `await session.run(feeds)` (feeds copied in, outputs
// copied out: what a caller sees), one thread, after warm-up runs.
//
// Nothing here touches Node or browser APIs: callers pass the webptq module, onnxruntime-web (or
// null) and the model bytes, so the same code measures in Node, in a page and in the CLI.

/** The runners, in table order. `kind` is the model variant each one runs. */
export const RUNNERS = Object.freeze([
  { key: 'webptq-f32', label: 'webptq f32', engine: 'webptq', kind: 'float' },
  { key: 'webptq-int8', label: 'webptq int8', engine: 'webptq', kind: 'int8' },
  { key: 'ort-f32', label: 'ort-web f32', engine: 'ort', kind: 'float' },
  { key: 'ort-int8', label: 'ort-web int8', engine: 'ort', kind: 'int8' },
]);

/** The ratios reported, each a quotient of two runners' median latencies (below 1: the first is faster). */
export const RATIOS = Object.freeze([
  { key: 'int8/ort-f32', label: 'i8/ort-f32', num: 'webptq-int8', den: 'ort-f32' },
  { key: 'int8/ort-int8', label: 'i8/ort-i8', num: 'webptq-int8', den: 'ort-int8' },
  { key: 'f32/ort-f32', label: 'f32/ort-f32', num: 'webptq-f32', den: 'ort-f32' },
  { key: 'int8/f32', label: 'i8/f32', num: 'webptq-int8', den: 'webptq-f32' },
  { key: 'ort int8/f32', label: 'ort i8/f32', num: 'ort-int8', den: 'ort-f32' },
]);

/** The two configurations: relaxed SIMD allowed for both runtimes, or SIMD128 only. */
export const CONFIGS = Object.freeze({
  relaxed: { webptqFlavour: 'relaxed', ortSimd: 'relaxed', title: 'relaxed SIMD allowed' },
  simd128: { webptqFlavour: 'simd128', ortSimd: true, title: 'SIMD128 only' },
});

/**
 * Sets onnxruntime-web up as every benchmark uses it: the wasm backend on one thread, SIMD
 * feature check per configuration. onnxruntime-web 1.30 ships one wasm binary; `env.wasm.simd =
 * 'relaxed'` only makes it check that the engine has relaxed SIMD, it does not switch binaries
 * (its own docs: "does not make ONNX Runtime switch to the corresponding runtime"), and that
 * binary contains no relaxed-SIMD instruction (it validates where relaxed SIMD is off).
 */
export function configureOrt(ort, config) {
  const c = CONFIGS[config];
  if (!c) throw new Error(`unknown benchmark configuration '${config}' (${Object.keys(CONFIGS).join(', ')})`);
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.simd = c.ortSimd;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
}

/** Median, p90 (nearest rank), mean, min and max of a list of milliseconds. */
export function summarize(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return { runs: 0, median: null, p90: null, mean: null, min: null, max: null };
  const median = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  const p90 = s[Math.max(0, Math.ceil(0.9 * n) - 1)];
  const round = (x) => Math.round(x * 1000) / 1000;
  return { runs: n, median: round(median), p90: round(p90), mean: round(s.reduce((a, b) => a + b, 0) / n), min: round(s[0]), max: round(s[n - 1]) };
}

/** The ratios of the medians that are available (null where a runner is missing). */
export function ratiosOf(latency) {
  const out = {};
  for (const r of RATIOS) {
    const a = latency[r.num]?.median;
    const b = latency[r.den]?.median;
    out[r.key] = a > 0 && b > 0 ? Math.round((a / b) * 1000) / 1000 : null;
  }
  return out;
}

const now = () => performance.now();

/**
 * Times runners interleaved: `warmup` untimed rounds, then rounds of one run each until `runs`
 * rounds are done or, after at least `minRuns`, `budgetMs` has passed. Round r starts with runner
 * r mod k, so none always goes first.
 * @param {{ key: string, run: () => Promise<unknown> }[]} runners
 * @returns {Promise<Record<string, number[]>>} each runner's times in ms, in order
 */
export async function timeInterleaved(runners, { runs = 20, warmup = 2, minRuns = 5, budgetMs = Infinity, onRound } = {}) {
  for (let w = 0; w < warmup; w++) for (const r of runners) await r.run();
  const times = Object.fromEntries(runners.map((r) => [r.key, []]));
  const start = now();
  for (let round = 0; round < runs; round++) {
    for (let j = 0; j < runners.length; j++) {
      const r = runners[(round + j) % runners.length];
      const t0 = now();
      await r.run();
      times[r.key].push(now() - t0);
    }
    onRound?.(round + 1, runs);
    if (round + 1 >= minRuns && now() - start > budgetMs) break;
  }
  return times;
}

/**
 * ‖a−b‖₂/‖b‖₂ and whether the argmax agrees (unless `argmax` is false), over two numeric arrays
 * (b is the reference).
 */
export function compareOutputs(a, b, argmax = true) {
  if (a.length !== b.length) return { relL2: null, argmaxAgrees: null, note: `length ${a.length} vs ${b.length}` };
  let num = 0;
  let den = 0;
  let ia = 0;
  let ib = 0;
  for (let i = 0; i < a.length; i++) {
    const x = Number(a[i]);
    const y = Number(b[i]);
    num += (x - y) ** 2;
    den += y ** 2;
    if (x > Number(a[ia])) ia = i;
    if (y > Number(b[ib])) ib = i;
  }
  const relL2 = den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
  const out = { relL2: Number.isFinite(relL2) ? Number(relL2.toExponential(3)) : null };
  if (argmax) out.argmaxAgrees = ia === ib;
  return out;
}

/**
 * A feeds description ({ name: { type, data, dims } }) as webptq Tensors.
 * @param {object} webptq the webptq module (js/index.js)
 */
export function webptqFeeds(webptq, feeds) {
  return Object.fromEntries(Object.entries(feeds).map(([n, t]) => [n, new webptq.Tensor(t.type, t.data, t.dims)]));
}

/**
 * Where a webptq session spends its time: runs `session.profile(feeds)` `runs` times (after one
 * untimed run) and sums the node times per op type. Returns `{ totalMs, ops: [{ opType, nodes,
 * ms, share }] }` with `ms` the mean per run and the ops sorted by it, largest first.
 * @param {object} session a webptq InferenceSession
 * @param {Record<string, object>} feeds webptq Tensors by input name
 */
export async function profileSession(session, feeds, runs = 10) {
  await session.run(feeds);
  const byOp = new Map();
  for (let r = 0; r < runs; r++) {
    for (const t of await session.profile(feeds)) {
      const e = byOp.get(t.opType) ?? { opType: t.opType, nodes: new Set(), ms: 0 };
      e.nodes.add(t.index);
      e.ms += t.ms / runs;
      byOp.set(t.opType, e);
    }
  }
  const totalMs = [...byOp.values()].reduce((s, e) => s + e.ms, 0);
  const ops = [...byOp.values()]
    .map((e) => ({ opType: e.opType, nodes: e.nodes.size, ms: e.ms, share: totalMs > 0 ? e.ms / totalMs : 0 }))
    .sort((a, b) => b.ms - a.ms);
  return { totalMs, ops };
}

/** A profile (profileSession) as text lines: op type, nodes, mean ms per run, share. */
export function formatProfile(label, profile, top = 12) {
  const lines = [`${label}: ${profile.totalMs.toFixed(2)} ms per run in nodes`];
  for (const o of profile.ops.slice(0, top)) {
    lines.push(`  ${o.opType.padEnd(28)} ${String(o.nodes).padStart(4)} nodes  ${o.ms.toFixed(3).padStart(9)} ms  ${(o.share * 100).toFixed(1).padStart(5)}%`);
  }
  return lines.join('\n');
}

function ortFeeds(ort, feeds) {
  return Object.fromEntries(Object.entries(feeds).map(([n, t]) => [n, new ort.Tensor(t.type, t.data, t.dims)]));
}

/** Opens one runner's session; returns { key, run, output(result) → data, release }. */
async function openRunner(spec, { webptq, ort, bytes, feeds, output }) {
  const [session, f] = spec.engine === 'webptq'
    ? [await webptq.InferenceSession.create(bytes), webptqFeeds(webptq, feeds)]
    : [await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' }), ortFeeds(ort, feeds)];
  const name = output && session.outputNames.includes(output) ? output : session.outputNames[0];
  return {
    key: spec.key,
    run: () => session.run(f),
    output: (res) => res[name]?.data,
    release: () => session.release(),
  };
}

const errorText = (e) => `${e?.code ? `[${e.code}] ` : ''}${String(e?.message ?? e).split('\n')[0].slice(0, 300)}`;

/**
 * Benchmarks one model: opens the runners it has bytes and engines for, checks their outputs
 * against the float reference (onnxruntime-web float, else webptq float), times them
 * interleaved and returns the row of the results.
 * @param {{ name: string, float: Uint8Array, int8?: Uint8Array | null, ortInt8?: Uint8Array | null,
 *   feeds: Record<string, { type: string, data: ArrayLike<number | bigint>, dims: number[] }>, output?: string,
 *   argmax?: boolean }} model
 *   `int8` is the model webptq runs as "webptq int8"; `ortInt8` the one onnxruntime-web runs as
 *   "ort-web int8" (defaults to `int8`).
 * @param {{ webptq: object, ort?: object | null, runs?: number, warmup?: number, minRuns?: number,
 *   budgetMs?: number, log?: (line: string) => void }} env
 */
export async function benchModel(model, { webptq, ort = null, runs = 20, warmup = 2, minRuns = 5, budgetMs = Infinity, log = () => {} }) {
  const bytesFor = (spec) => {
    if (spec.kind === 'float') return model.float;
    return spec.engine === 'ort' ? (model.ortInt8 ?? model.int8) : model.int8;
  };
  const row = { model: model.name, runners: [], latency: {}, ratios: {}, check: {}, errors: {} };
  const open = [];
  try {
    for (const spec of RUNNERS) {
      const bytes = bytesFor(spec);
      if (!bytes || (spec.engine === 'ort' && !ort)) continue;
      try {
        open.push(await openRunner(spec, { webptq, ort, bytes, feeds: model.feeds, output: model.output }));
      } catch (e) {
        row.errors[spec.key] = `create: ${errorText(e)}`;
        log(`  ${model.name}: ${spec.label} cannot start: ${row.errors[spec.key]}`);
      }
    }
    // One checked run each: outputs against the float reference, and failing runners dropped.
    const outputs = {};
    for (const r of [...open]) {
      try {
        outputs[r.key] = r.output(await r.run());
      } catch (e) {
        row.errors[r.key] = `run: ${errorText(e)}`;
        log(`  ${model.name}: ${r.key} fails: ${row.errors[r.key]}`);
        await r.release();
        open.splice(open.indexOf(r), 1);
      }
    }
    const refKey = outputs['ort-f32'] ? 'ort-f32' : 'webptq-f32';
    for (const [key, data] of Object.entries(outputs)) {
      if (key !== refKey && data && outputs[refKey]) row.check[key] = { against: refKey, ...compareOutputs(data, outputs[refKey], model.argmax ?? true) };
    }
    row.runners = open.map((r) => r.key);
    const t0 = now();
    const times = await timeInterleaved(open, {
      runs, warmup, minRuns, budgetMs,
      onRound: (done, total) => {
        if (done === 1 || done % 10 === 0 || done === total) log(`  ${model.name}: round ${done}/${total} (${((now() - t0) / 1000).toFixed(1)} s)`);
      },
    });
    for (const [key, ms] of Object.entries(times)) row.latency[key] = summarize(ms);
    row.ratios = ratiosOf(row.latency);
    return row;
  } finally {
    for (const r of open) await r.release();
  }
}

// ---------------------------------------------------------------------------------------------
// Text output

const fmtMs = (x) => (x === null || x === undefined ? '-' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const fmtRatio = (x) => (x === null || x === undefined ? '-' : `${x.toFixed(2)}x`);

function grid(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join('  ').trimEnd()).join('\n');
}

/**
 * One configuration's rows as a text table: median / p90 ms per runner, then the ratios.
 * @param {object[]} rows results of benchModel
 */
export function formatRows(rows) {
  const header = ['model', ...RUNNERS.map((r) => r.label), ...RATIOS.map((r) => r.label)];
  const body = rows.map((row) => [
    row.model,
    ...RUNNERS.map((r) => {
      const l = row.latency[r.key];
      return l ? `${fmtMs(l.median)} / ${fmtMs(l.p90)}` : '-';
    }),
    ...RATIOS.map((r) => fmtRatio(row.ratios[r.key])),
  ]);
  const lines = [grid([header, ...body]), '(latency: median / p90 ms over the runs; ratios: medians, below 1x means the first is faster)'];
  for (const row of rows) {
    const runs = [...new Set(Object.values(row.latency).map((l) => l.runs))].join('/');
    const checks = Object.entries(row.check).map(([k, c]) => `${k} rel L2 ${c.relL2 ?? '?'}${c.argmaxAgrees === false ? ' (argmax differs)' : ''}`);
    const errors = Object.entries(row.errors).map(([k, e]) => `${k}: ${e}`);
    lines.push(`  ${row.model}: ${runs} runs; outputs vs ${Object.values(row.check)[0]?.against ?? '-'}: ${checks.join(', ') || '-'}${errors.length ? `; errors: ${errors.join('; ')}` : ''}`);
  }
  return lines.join('\n');
}

/** The machine lines of a result's header. */
export function formatMachine(machine) {
  return Object.entries(machine).map(([k, v]) => `${k.padEnd(12)} ${typeof v === 'object' ? JSON.stringify(v) : v}`).join('\n');
}

/** A whole result ({ machine, configs: [{ config, title, rows }] }) as text. */
export function formatResult(result) {
  const parts = [formatMachine(result.machine)];
  for (const c of result.configs) {
    parts.push('', `== ${c.config}: ${c.title} (webptq ${c.webptqFlavour} build; onnxruntime-web ${c.ortVersion ?? '-'} env.wasm.simd=${JSON.stringify(c.ortSimd)}, 1 thread, batch 1)`);
    if (c.error) parts.push(`  failed: ${c.error}`);
    else parts.push(formatRows(c.rows));
  }
  return parts.join('\n');
}
