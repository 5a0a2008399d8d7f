// The .npy reader and writer: byte-for-byte agreement with numpy's np.save, format versions 2 and
// 3, and clear errors for what is not supported.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readNpy, writeNpy, Tensor, WebptqError } from '../../js/index.js';

// np.save output of numpy 2.4 (base64), for arrays written out below.
const NUMPY = {
  float32_2x3: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAMA/AAAAwAAAQEAAAIBAAACoQAAAAIA=',
  float16_3: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGYyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAPADB/3s=',
  float64_scalar: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoYLURU+yEJQA==',
  int64_2x2: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGk4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAAAAAAAAP7/////////AAAAAAABAAAAAAAAAAAAwA==',
  int32_4: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGk0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDQsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAAA/v///wMAAAD///9/',
  int8_3: 'k05VTVBZAQB2AHsnZGVzY3InOiAnfGkxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAqAAH8=',
  uint8_2x1x2: 'k05VTVBZAQB2AHsnZGVzY3InOiAnfHUxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDEsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoA/wcI',
  bool_4: 'k05VTVBZAQB2AHsnZGVzY3InOiAnfGIxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDQsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAAB',
  float32_0x3: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDAsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo=',
  uint16_2: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPHUyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAP//',
};
const EXPECTED = {
  float32_2x3: ['float32', [2, 3], [1.5, -2, 3, 4, 5.25, -0]],
  float16_3: ['float16', [3], [0x3c00, 0xc100, 0x7bff]], // 1, -2.5, 65504 as half bits
  float64_scalar: ['float64', [], [Math.PI]],
  int64_2x2: ['int64', [2, 2], [1n, -2n, 2n ** 40n, -(2n ** 62n)]],
  int32_4: ['int32', [4], [1, -2, 3, 2 ** 31 - 1]],
  int8_3: ['int8', [3], [-128, 0, 127]],
  uint8_2x1x2: ['uint8', [2, 1, 2], [0, 255, 7, 8]],
  bool_4: ['bool', [4], [1, 0, 0, 1]],
  float32_0x3: ['float32', [0, 3], []],
  uint16_2: ['uint16', [2], [1, 65535]],
};

const bytesOf = (b64) => new Uint8Array(Buffer.from(b64, 'base64'));

function npyBytes(header, body, { major = 1, minor = 0 } = {}) {
  const h = new TextEncoder().encode(header);
  const pre = major === 1 ? 10 : 12;
  const out = new Uint8Array(pre + h.length + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, minor]);
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, h.length, true);
  else dv.setUint32(8, h.length, true);
  out.set(h, pre);
  out.set(body, pre + h.length);
  return out;
}

function rejectsNpy(bytes, ...patterns) {
  assert.throws(() => readNpy(bytes, 'x.npy'), (e) => {
    assert.ok(e instanceof WebptqError, String(e));
    assert.equal(e.code, 'INVALID_NPY');
    assert.match(e.message, /^x\.npy: /);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

test('reads what numpy writes, for every supported dtype', () => {
  for (const [name, b64] of Object.entries(NUMPY)) {
    const t = readNpy(bytesOf(b64));
    const [type, dims, values] = EXPECTED[name];
    assert.equal(t.type, type, name);
    assert.deepEqual(t.dims, dims, name);
    assert.deepEqual([...t.data], values, name);
  }
});

test('writes exactly the bytes numpy writes', () => {
  for (const [name, b64] of Object.entries(NUMPY)) {
    const bytes = bytesOf(b64);
    assert.deepEqual(writeNpy(readNpy(bytes)), bytes, name);
  }
  const [type, dims, values] = EXPECTED.int64_2x2;
  assert.deepEqual(writeNpy(new Tensor(type, values, dims)), bytesOf(NUMPY.int64_2x2));
});

test('round-trips large and odd shapes; the header is 64-byte aligned', () => {
  const t = new Tensor('float32', Float32Array.from({ length: 3 * 1000 }, (_, i) => i / 7), [3, 10, 100]);
  const b = writeNpy(t);
  const headerEnd = b.indexOf(0x0a) + 1;
  assert.equal(headerEnd % 64, 0);
  const back = readNpy(b);
  assert.deepEqual(back.dims, [3, 10, 100]);
  assert.deepEqual(back.data, t.data);
  // A file read from an unaligned offset of a bigger buffer still gives aligned typed arrays.
  const shifted = new Uint8Array(b.length + 1);
  shifted.set(b, 1);
  assert.deepEqual(readNpy(shifted.subarray(1)).data, t.data);
  // Node Buffers (views into a shared pool) read correctly.
  const pooled = Buffer.concat([Buffer.from('xyz'), Buffer.from(b)]).subarray(3);
  assert.deepEqual(readNpy(pooled).data, t.data);
  assert.deepEqual(readNpy(Buffer.from(bytesOf(NUMPY.int32_4))).data, new Int32Array([1, -2, 3, 2 ** 31 - 1]));
});

test('format versions 2.0 and 3.0', () => {
  const body = new Uint8Array(new Float32Array([1, 2]).buffer);
  const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }".padEnd(116, ' ') + '\n';
  assert.deepEqual([...readNpy(npyBytes(header, body, { major: 2 })).data], [1, 2]);
  assert.deepEqual([...readNpy(npyBytes(header, body, { major: 3 })).data], [1, 2]);
  // Fortran order is fine when at most one dimension is longer than 1.
  const f = "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 2), }\n";
  assert.deepEqual(readNpy(npyBytes(f, body)).dims, [1, 2]);
});

test('clear errors: magic, version, dtype, byte order, Fortran order, truncation', () => {
  const body = new Uint8Array(24);
  rejectsNpy(new TextEncoder().encode('hello, this is not numpy'), /not a \.npy file/);
  rejectsNpy(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }\n", body, { major: 4 }), /version 4\.0/);
  rejectsNpy(npyBytes("{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }\n", body), /unsupported dtype '<c8'/, /float32/);
  rejectsNpy(npyBytes("{'descr': '<U3', 'fortran_order': False, 'shape': (2,), }\n", body), /unsupported dtype '<U3'/);
  rejectsNpy(npyBytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }\n", body), /structured/);
  rejectsNpy(npyBytes("{'descr': '>f4', 'fortran_order': False, 'shape': (6,), }\n", body), /big-endian/, /'<f4'/);
  rejectsNpy(npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", body), /Fortran/, /\(2, 3\)/);
  rejectsNpy(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }\n", body), /truncated data/, /\(2, 4\)/, /32 bytes/, /24/);
  rejectsNpy(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", body).subarray(0, 40), /truncated header/);
  rejectsNpy(npyBytes("{'descr': '<f4', 'shape': (2, 3), }\n", body), /fortran_order/);
  rejectsNpy(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }\n", body), /bad shape/);
  // big-endian single bytes are just bytes
  assert.equal(readNpy(npyBytes("{'descr': '>u1', 'fortran_order': False, 'shape': (24,), }\n", body)).type, 'uint8');
});
