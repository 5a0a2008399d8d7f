// Reading and writing NumPy .npy files (format versions 1.0, 2.0 and 3.0; little-endian, C order)
// as Tensors, so reference data from Python crosses into JS without conversion scripts.
// The format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
import { WebptqError } from './errors.js';
import { Tensor, TENSOR_TYPES } from './tensor.js';
import { asBytes } from './bytes.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

// descr (without the byte-order character) ↔ tensor type
const DTYPES = {
  f4: 'float32', f2: 'float16', f8: 'float64',
  i1: 'int8', u1: 'uint8', i2: 'int16', u2: 'uint16', i4: 'int32', u4: 'uint32', i8: 'int64', u8: 'uint64',
  b1: 'bool',
};
const DESCR = Object.fromEntries(Object.entries(DTYPES).map(([d, t]) => [t, d]));

const fail = (msg, where) => {
  throw new WebptqError('INVALID_NPY', `${where ? `${where}: ` : ''}${msg}`);
};

function parseHeader(text, where) {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr) {
    if (/['"]descr['"]\s*:\s*\[/.test(text)) fail('structured dtypes are not supported', where);
    fail(`header has no 'descr': ${text.trim()}`, where);
  }
  if (!fortran) fail(`header has no 'fortran_order': ${text.trim()}`, where);
  if (!shape) fail(`header has no 'shape': ${text.trim()}`, where);
  const dims = shape[1].split(',').map((s) => s.trim().replace(/L$/, '')).filter((s) => s !== '').map((s) => {
    const n = Number(s);
    if (!Number.isSafeInteger(n) || n < 0) fail(`bad shape (${shape[1]})`, where);
    return n;
  });
  return { descr: descr[1], fortran: fortran[1] === 'True', dims };
}

function dtypeOf(descr, where) {
  const order = descr[0];
  const code = descr.slice(1);
  if (!['<', '>', '|', '='].includes(order) || !(code in DTYPES)) {
    const known = Object.entries(DTYPES).map(([c, t]) => `${c.endsWith('1') ? '|' : '<'}${c} (${t})`);
    fail(`unsupported dtype '${descr}' (supported: ${known.join(', ')})`, where);
  }
  const size = Number(code.slice(1));
  if (order === '>' && size > 1) fail(`big-endian data ('${descr}') is not supported; save it as little-endian ('<${code}')`, where);
  return DTYPES[code];
}

/**
 * Parses a .npy file.
 * @param {Uint8Array | ArrayBuffer} bytes the whole file
 * @param {string} [where] a name for error messages (e.g. the path)
 * @returns {Tensor}
 */
export function readNpy(bytes, where) {
  const b = asBytes(bytes, 'the .npy data');
  if (b.length < 10 || !MAGIC.every((m, i) => b[i] === m)) fail('not a .npy file (no \\x93NUMPY magic)', where);
  const major = b[6];
  let headerLen;
  let start;
  if (major === 1) {
    headerLen = b[8] | (b[9] << 8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (b.length < 12) fail('truncated header', where);
    headerLen = (b[8] | (b[9] << 8) | (b[10] << 16)) + b[11] * 2 ** 24;
    start = 12;
  } else {
    fail(`unsupported .npy format version ${major}.${b[7]} (supported: 1.0, 2.0, 3.0)`, where);
  }
  if (start + headerLen > b.length) fail(`truncated header (needs ${headerLen} bytes, ${b.length - start} present)`, where);
  const headerBytes = b.subarray(start, start + headerLen);
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(headerBytes);
  const { descr, fortran, dims } = parseHeader(text, where);
  const type = dtypeOf(descr, where);
  const size = dims.reduce((n, d) => n * d, 1);
  if (fortran && dims.filter((d) => d > 1).length > 1) {
    fail(`Fortran-order (column-major) arrays are not supported; save with np.ascontiguousarray (shape (${dims.join(', ')}))`, where);
  }
  const Ctor = TENSOR_TYPES[type];
  const nbytes = size * Ctor.BYTES_PER_ELEMENT;
  const dataStart = start + headerLen;
  const have = b.length - dataStart;
  if (have < nbytes) {
    fail(`truncated data: shape (${dims.join(', ')}) of ${type} needs ${nbytes} bytes, the file holds ${have}`, where);
  }
  // Copy into a fresh buffer, so the tensor owns aligned memory independent of the file's
  // (Node's Buffer#slice would return a view into a shared pool, hence no slice() here).
  const copy = new Uint8Array(nbytes);
  copy.set(b.subarray(dataStart, dataStart + nbytes));
  return new Tensor(type, new Ctor(copy.buffer, 0, size), dims);
}

/**
 * Serializes a Tensor as a .npy file (format 1.0, or 2.0 when the header needs it).
 * @param {Tensor} tensor
 * @returns {Uint8Array}
 */
export function writeNpy(tensor) {
  if (!(tensor instanceof Tensor)) tensor = new Tensor(tensor?.type, tensor?.data, tensor?.dims);
  const code = DESCR[tensor.type];
  const order = code.endsWith('1') ? '|' : '<';
  const shape = tensor.dims.length === 1 ? `(${tensor.dims[0]},)` : `(${tensor.dims.join(', ')})`;
  let dict = `{'descr': '${order}${code}', 'fortran_order': False, 'shape': ${shape}, }`;
  // Room for the first dimension to grow, as numpy leaves it (so the bytes equal np.save's).
  if (tensor.dims.length > 0) dict += ' '.repeat(Math.max(0, 21 - String(tensor.dims[0]).length));
  let version = 1;
  let pre = 10;
  if (dict.length + 1 + pre > 0xffff) {
    version = 2;
    pre = 12;
  }
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - pre - 1, ' ') + '\n';
  const d = tensor.data;
  const body = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  const out = new Uint8Array(total + body.length);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const len = total - pre;
  if (version === 1) {
    out[8] = len & 0xff;
    out[9] = len >> 8;
  } else {
    new DataView(out.buffer).setUint32(8, len, true);
  }
  for (let i = 0; i < dict.length; i++) out[pre + i] = dict.charCodeAt(i);
  out.set(body, total);
  return out;
}
