// Text models in the demo: sentences typed or pasted (one per line) become calibration feeds. A
// model counts as a text encoder when every input is one of input_ids / attention_mask /
// token_type_ids with an integer type (MiniLM, BERT and their kind). The sentences are tokenized
// in this tab by @huggingface/tokenizers (served from /vendor/tokenizers/, loaded only when a text
// model is open; docs/tokenizer.md says why this package) with the tokenizer.json that comes with
// the model: a fixture's, or one the visitor drops beside the .onnx. Truncation and padding
// follow the Rust `tokenizers` crate (what Python's `tokenizers` does with the same file): the
// sentence is cut before its special tokens are added, so [CLS] … [SEP] survive, and padding
// uses the file's pad token and pad type id, on its side. The sequence length is the model's
// when its input has a fixed one; otherwise the longest sentence, at most the file's truncation
// length (512 when it has none). The file's own fixed padding (128 in many BERT files) is not
// applied to a model with a free sequence axis: calibrating on mostly [PAD] positions would fit
// the ranges to padding.
import { Tensor } from '../js/index.js';

const LIBRARY = new URL('../vendor/tokenizers/tokenizers.min.mjs', import.meta.url);
let library = null;
const loadLibrary = () => {
  library ??= import(LIBRARY.href).catch((e) => {
    library = null;
    throw new Error(`cannot load the tokenizer package from ${LIBRARY.pathname}: ${e.message}`);
  });
  return library;
};

export const TEXT_INPUTS = ['input_ids', 'attention_mask', 'token_type_ids'];
const INT_TYPES = new Set(['int64', 'int32']);

/**
 * The text inputs of a model, or null when it is not a plain text encoder:
 * { inputs: [{ name, type }], length: the fixed sequence length or null }.
 */
export function textInputs(info) {
  if (!info.inputs.some((v) => v.name === 'input_ids')) return null;
  if (!info.inputs.every((v) => TEXT_INPUTS.includes(v.name) && INT_TYPES.has(v.type))) return null;
  const ids = info.inputs.find((v) => v.name === 'input_ids');
  const seq = ids.shape?.[1];
  const batch = ids.shape?.[0];
  return {
    inputs: info.inputs.map((v) => ({ name: v.name, type: v.type })),
    length: typeof seq === 'number' && seq > 0 ? seq : null,
    batch: typeof batch === 'number' && batch > 0 ? batch : null,
  };
}

/** The sentences of a textarea's text: one per line, blank lines left out. */
export const splitSentences = (text) => text.split(/\r?\n/).map((s) => s.trim()).filter(Boolean);

/**
 * A tokenizer from the text of a tokenizer.json (and, optionally, of its tokenizer_config.json):
 * { tokenizer, json, source }. Throws an error naming the file when it is not one. `Tokenizer`:
 * the package's class when the caller has it (Node tests import it from node_modules); by default
 * the page's vendored copy.
 */
export async function loadTokenizer(text, source, configText = null, { Tokenizer: given } = {}) {
  let json;
  let config = {};
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source} is not JSON: ${e.message}`);
  }
  if (!json || typeof json !== 'object' || !json.model || typeof json.model !== 'object') {
    throw new Error(`${source} is not a tokenizer.json (it has no "model")`);
  }
  if (configText) {
    try {
      config = JSON.parse(configText);
    } catch (e) {
      throw new Error(`the tokenizer_config.json beside ${source} is not JSON: ${e.message}`);
    }
  }
  const Tokenizer = given ?? (await loadLibrary()).Tokenizer;
  let tokenizer;
  try {
    tokenizer = new Tokenizer(json, config);
  } catch (e) {
    throw new Error(`${source}: the tokenizer cannot be built: ${e.message}`);
  }
  return { tokenizer, json, source };
}

/** The size of a tokenizer's vocabulary, added tokens included. */
export const vocabSize = (tok) => tok.tokenizer.get_vocab(true).size;

/** How many special tokens the post-processor puts before and after one sentence. */
function specials(tokenizer) {
  const full = tokenizer.encode('a').ids;
  const plain = tokenizer.encode('a', { add_special_tokens: false }).ids;
  for (let lead = 0; lead + plain.length <= full.length; lead++) {
    if (plain.every((id, i) => full[lead + i] === id)) return { lead, tail: full.length - lead - plain.length };
  }
  return { lead: 0, tail: 0 };
}

/**
 * Tokenizes `sentences` with `tok` (see loadTokenizer) to one sequence length:
 * { ids, mask, types (arrays of number arrays), lengths (each sentence's tokens before padding),
 *   length, truncated (how many were cut), pad: { id, token } }.
 * `length`: the model's fixed sequence length, or null for the longest sentence.
 */
export function encodeSentences(tok, sentences, { length = null } = {}) {
  const { tokenizer, json } = tok;
  if (!sentences.length) throw new Error('type or paste at least one sentence (one per line)');
  const padToken = json.padding?.pad_token ?? '[PAD]';
  const padId = json.padding?.pad_id ?? tokenizer.token_to_id(padToken) ?? 0;
  const padType = json.padding?.pad_type_id ?? 0;
  const left = json.padding?.direction === 'Left';
  const max = length ?? json.truncation?.max_length ?? 512;
  const { lead, tail } = specials(tokenizer);
  if (max < lead + tail + 1) throw new Error(`a sequence length of ${max} leaves no room for a token beside the ${lead + tail} special tokens`);
  let truncated = 0;
  const rows = sentences.map((s) => {
    const e = tokenizer.encode(s, { return_token_type_ids: true });
    let ids = Array.from(e.ids);
    let mask = Array.from(e.attention_mask ?? ids.map(() => 1));
    let types = Array.from(e.token_type_ids ?? ids.map(() => 0));
    if (ids.length > max) {
      truncated += 1;
      const keep = (a) => [...a.slice(0, lead), ...a.slice(lead, a.length - tail).slice(0, max - lead - tail), ...a.slice(a.length - tail)];
      ids = keep(ids);
      mask = keep(mask);
      types = keep(types);
    }
    return { ids, mask, types };
  });
  const lengths = rows.map((r) => r.ids.length);
  const L = length ?? Math.max(...lengths);
  const pad = (a, v) => {
    const fill = new Array(L - a.length).fill(v);
    return left ? [...fill, ...a] : [...a, ...fill];
  };
  return {
    ids: rows.map((r) => pad(r.ids, padId)),
    mask: rows.map((r) => pad(r.mask, 0)),
    types: rows.map((r) => pad(r.types, padType)),
    lengths,
    length: L,
    truncated,
    pad: { id: padId, token: padToken },
  };
}

/** Rows [from, to) of number arrays as one integer tensor [n, L] of `type` (int64 or int32). */
function rowsTensor(rows, from, to, type) {
  const L = rows[0].length;
  const n = to - from;
  const data = type === 'int64' ? new BigInt64Array(n * L) : new Int32Array(n * L);
  for (let r = 0; r < n; r++) {
    const row = rows[from + r];
    for (let c = 0; c < L; c++) data[r * L + c] = type === 'int64' ? BigInt(row[c]) : row[c];
  }
  return new Tensor(type, data, [n, L]);
}

/**
 * The calibration feeds of encoded sentences (see encodeSentences) for a model's text inputs
 * (see textInputs): batches of `batch` sentences (the model's fixed batch when it has one), each
 * input with its own dtype.
 */
export function textFeeds(encoded, text, { batch = 4 } = {}) {
  const by = { input_ids: encoded.ids, attention_mask: encoded.mask, token_type_ids: encoded.types };
  const n = encoded.ids.length;
  const step = text.batch ?? batch;
  if (text.batch && n % text.batch) throw new Error(`the model takes batches of exactly ${text.batch} sentences; ${n} were given`);
  const out = [];
  for (let r = 0; r < n; r += step) {
    const to = Math.min(n, r + step);
    const feeds = {};
    for (const { name, type } of text.inputs) feeds[name] = rowsTensor(by[name], r, to, type);
    out.push(feeds);
  }
  return out;
}

/**
 * The sentence embedding output of a run: { name, vectors: Float32Array per row, pooled } where
 * `pooled` says it was the attention-masked mean of a [batch, seq, hidden] output (a model
 * without a [batch, hidden] float output).
 */
export function embeddings(outputs, mask, preferred = null) {
  const floats = Object.entries(outputs).filter(([, t]) => t.type === 'float32');
  const pick = (preferred && floats.find(([k]) => k === preferred))
    ?? floats.find(([, t]) => t.dims.length === 2) ?? floats.find(([, t]) => t.dims.length === 3);
  if (!pick) throw new Error('the model has no float output of shape [batch, hidden] or [batch, seq, hidden]');
  const [name, t] = pick;
  const rows = t.dims[0];
  if (t.dims.length === 2) {
    const h = t.dims[1];
    return { name, pooled: false, vectors: Array.from({ length: rows }, (_, r) => t.data.subarray(r * h, (r + 1) * h)) };
  }
  const [, s, h] = t.dims;
  const vectors = [];
  for (let r = 0; r < rows; r++) {
    const v = new Float32Array(h);
    let count = 0;
    for (let j = 0; j < s; j++) {
      if (!mask[r][j]) continue;
      count += 1;
      const off = (r * s + j) * h;
      for (let k = 0; k < h; k++) v[k] += t.data[off + k];
    }
    for (let k = 0; k < h; k++) v[k] /= Math.max(1, count);
    vectors.push(v);
  }
  return { name, pooled: true, vectors };
}

/** Cosine similarity of two vectors (0 when either is zero). */
export function cosine(a, b) {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}

/** A few sentences for a text model that brings none. */
export const EXAMPLE_SENTENCES = [
  'The weather is lovely today.',
  'It is a beautiful sunny day.',
  'A man is playing a guitar on stage.',
  'The new phone has a larger battery and a faster chip.',
  'Quantization maps floating-point values to 8-bit integers.',
  'She cooked pasta for dinner with fresh tomatoes.',
  'The train to the airport leaves every twenty minutes.',
  'Children are playing football in the park.',
];
