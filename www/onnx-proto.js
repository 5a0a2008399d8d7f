// Just enough of the ONNX protobuf for the demo and the tutorial, on the bytes of a model file:
// the graph's nodes (name, op, inputs, outputs), its float initializers as Float32Arrays (the
// real weights the tutorial quantizes by hand), and a copy of the model with chosen intermediate
// values added as graph outputs (so an InferenceSession of the package returns a layer's real
// activations). The package's core parses models for everything else; this reader only walks
// the fields named below and skips the rest, so it never has to understand a whole model.
//
// Field numbers (onnx/onnx.proto3): ModelProto.graph = 7; GraphProto.node = 1, .initializer = 5,
// .output = 12; NodeProto.input = 1, .output = 2, .name = 3, .op_type = 4; TensorProto.dims = 1,
// .data_type = 2, .float_data = 4, .name = 8, .raw_data = 9, .data_location = 14;
// ValueInfoProto.name = 1.

const LEN = 2;
const utf8 = new TextDecoder();

/** Reads a base-128 varint at `pos`; returns [value (a Number, exact below 2^53), next pos]. */
function varint(buf, pos) {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    value += (b & 0x7f) * mul;
    if (b < 0x80) return [value, pos];
    mul *= 128;
  }
  throw new Error('varint longer than 10 bytes');
}

/**
 * The fields of one message, in order: { field, wire, value } where value is a Number (varint),
 * a Uint8Array view (length-delimited) or the 4/8 raw bytes (fixed32/fixed64).
 * @param {Uint8Array} buf
 */
export function fields(buf) {
  const out = [];
  let pos = 0;
  while (pos < buf.length) {
    const start = pos;
    let key;
    [key, pos] = varint(buf, pos);
    const field = Math.floor(key / 8);
    const wire = key % 8;
    let value;
    if (wire === 0) {
      [value, pos] = varint(buf, pos);
    } else if (wire === LEN) {
      let n;
      [n, pos] = varint(buf, pos);
      if (pos + n > buf.length) throw new Error(`field ${field}: ${n} bytes announced, ${buf.length - pos} left`);
      value = buf.subarray(pos, pos + n);
      pos += n;
    } else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      if (pos + n > buf.length) throw new Error(`field ${field}: truncated fixed${n * 8}`);
      value = buf.subarray(pos, pos + n);
      pos += n;
    } else {
      throw new Error(`unsupported wire type ${wire} at byte ${start}`);
    }
    out.push({ field, wire, value, start, end: pos });
  }
  return out;
}

const text = (f) => utf8.decode(f.value);

/** Packed or repeated varints of one field. */
function varints(fs, field) {
  const out = [];
  for (const f of fs) {
    if (f.field !== field) continue;
    if (f.wire === 0) out.push(f.value);
    else if (f.wire === LEN) {
      for (let p = 0; p < f.value.length;) {
        let v;
        [v, p] = varint(f.value, p);
        out.push(v);
      }
    }
  }
  return out;
}

function graphOf(modelBytes) {
  const g = fields(modelBytes).find((f) => f.field === 7 && f.wire === LEN);
  if (!g) throw new Error('no graph in this model');
  return g;
}

/**
 * The nodes of the main graph, in file order.
 * @param {Uint8Array} modelBytes
 * @returns {{ name: string, opType: string, inputs: string[], outputs: string[], ints: Record<string, number> }[]}
 */
export function readNodes(modelBytes) {
  return fields(graphOf(modelBytes).value).filter((f) => f.field === 1 && f.wire === LEN).map((n, i) => {
    const fs = fields(n.value);
    const strings = (k) => fs.filter((f) => f.field === k && f.wire === LEN).map(text);
    // The integer attributes (AttributeProto: name 1, i 3), e.g. Gemm's transB.
    const ints = {};
    for (const a of fs.filter((f) => f.field === 5 && f.wire === LEN)) {
      const afs = fields(a.value);
      const v = varints(afs, 3);
      if (v.length) ints[afs.filter((f) => f.field === 1 && f.wire === LEN).map(text)[0] ?? ''] = v[0];
    }
    return { name: strings(3)[0] || `#${i}`, opType: strings(4)[0] ?? '', inputs: strings(1), outputs: strings(2), ints };
  });
}

/**
 * The float32 initializers stored in the file (raw_data or float_data), by name, with their dims.
 * Others (integer, external, other float widths) are left out.
 * @param {Uint8Array} modelBytes
 * @returns {Map<string, { dims: number[], data: Float32Array }>}
 */
export function readFloatInitializers(modelBytes) {
  const out = new Map();
  for (const t of fields(graphOf(modelBytes).value)) {
    if (t.field !== 5 || t.wire !== LEN) continue;
    const fs = fields(t.value);
    const type = varints(fs, 2)[0];
    const external = varints(fs, 14)[0] === 1;
    if (type !== 1 || external) continue;
    const name = fs.filter((f) => f.field === 8 && f.wire === LEN).map(text)[0] ?? '';
    const dims = varints(fs, 1);
    const n = dims.reduce((a, b) => a * b, 1);
    const raw = fs.find((f) => f.field === 9 && f.wire === LEN);
    let data;
    if (raw) {
      if (raw.value.length !== n * 4) continue;
      data = new Float32Array(n);
      new Uint8Array(data.buffer).set(raw.value); // copied: raw bytes need not be 4-aligned
    } else {
      const packed = fs.filter((f) => f.field === 4);
      const parts = [];
      for (const f of packed) {
        if (f.wire === LEN) parts.push(new Float32Array(f.value.slice().buffer));
        else if (f.wire === 5) parts.push(new Float32Array(f.value.slice().buffer));
      }
      data = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
      let o = 0;
      for (const p of parts) {
        data.set(p, o);
        o += p.length;
      }
      if (data.length !== n) continue;
    }
    out.set(name, { dims, data });
  }
  return out;
}

/**
 * The float weights of the model's Conv, Gemm and MatMul nodes, each laid out with its output
 * channel first (as weightError wants): a MatMul's [K, N] and a Gemm's untransposed B are
 * transposed to [N, K] (`stored`: the dims in the file); a Conv's [Cout, Cin/g, kh, kw] and a
 * transposed Gemm's [N, K] are already so.
 * @param {Uint8Array} bytes
 * @returns {Map<string, { dims: number[], data: Float32Array, op: string, stored?: number[] }>}
 */
export function readLayerWeights(bytes) {
  const inits = readFloatInitializers(bytes);
  const out = new Map();
  for (const n of readNodes(bytes)) {
    const w = inits.get(n.inputs[1]);
    if (!w || out.has(n.inputs[1]) || w.dims.length < 2) continue;
    if (n.opType === 'Conv') out.set(n.inputs[1], { ...w, op: n.opType });
    else if ((n.opType === 'MatMul' || (n.opType === 'Gemm' && !n.ints.transB)) && w.dims.length === 2) {
      const [k, m] = w.dims;
      const t = new Float32Array(w.data.length);
      for (let i = 0; i < k; i++) for (let j = 0; j < m; j++) t[j * k + i] = w.data[i * m + j];
      out.set(n.inputs[1], { data: t, dims: [m, k], op: n.opType, stored: w.dims });
    } else if (n.opType === 'Gemm') out.set(n.inputs[1], { ...w, op: n.opType });
  }
  return out;
}

function renderSection3() {
  const w = state.weights.get($('t3-weight').value);
  if (!w) return;
  const per = $('t3-per-channel').checked;
  const mine = weightError(w.data, w.dims, per);
  const other = weightError(w.data, w.dims, !per);
  $('t3-sqnr').value = fmtDb(mine.sqnrDb);
  $('t3-worst').value = fmtDb(Math.min(...mine.channels.map((c) => c.sqnrDb)));
  $('t3-other').value = `${fmtDb(other.sqnrDb)} ${per ? 'per tensor' : 'per channel'}`;
  $('t3-scales').value = per ? `${w.dims[0]} (one per channel)` : '1';
  let rows = mine.channels.map((c, i) => ({ label: `channel ${i}`, value: c.sqnrDb }));
  const hi = Math.max(...weightError(w.data, w.dims, true).channels.map((c) => c.sqnrDb).filter(Number.isFinite)) * 1.05;
  const many = rows.length > MAX_BARS;
  if (many) rows = rows.sort((a, b) => a.value - b.value).slice(0, MAX_BARS);
  $('t3-chart').replaceChildren(
    ...(many ? [el('p', { class: 'hint' }, `The ${MAX_BARS} worst of ${mine.channels.length} channels:`)] : []),
    barChart(rows, { max: hi, title: `per-channel SQNR of ${$('t3-weight').value}`, width: widthOf($('t3-chart')) }),
  );
}

function encodeVarint(n) {
  const out = [];
  while (n >= 128) {
    out.push((n % 128) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function lenField(field, bytes) {
  const head = [...encodeVarint(field * 8 + LEN), ...encodeVarint(bytes.length)];
  const out = new Uint8Array(head.length + bytes.length);
  out.set(head);
  out.set(bytes, head.length);
  return out;
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * A copy of the model whose graph also outputs the named values (appended after the model's own
 * outputs, with no declared type: the runtime infers it). Values already outputs are skipped.
 * @param {Uint8Array} modelBytes
 * @param {string[]} names
 */
export function withOutputs(modelBytes, names) {
  const top = fields(modelBytes);
  const g = top.find((f) => f.field === 7 && f.wire === LEN);
  if (!g) throw new Error('no graph in this model');
  const existing = new Set(fields(g.value).filter((f) => f.field === 12 && f.wire === LEN)
    .map((f) => fields(f.value).filter((x) => x.field === 1 && x.wire === LEN).map(text)[0]));
  const enc = new TextEncoder();
  const extra = names.filter((n) => !existing.has(n)).map((n) => lenField(12, lenField(1, enc.encode(n))));
  const graph = concat([g.value, ...extra]);
  return concat([modelBytes.subarray(0, g.start), lenField(7, graph), modelBytes.subarray(g.end)]);
}
