// Image helpers against Pillow + numpy (the .venv's), on the fixture photos:
// - given the same pixels, imageToTensor's resize (Pillow BILINEAR), centre crop, gray conversion,
//   mean/std, layout and channel order give Pillow's numbers: pixels identical after resizing,
//   float values within 1e-6 (float32 rounding of the normalization);
// - decoding in Node: PNG bit for bit like Pillow; JPEG (jpeg-js vs Pillow's libjpeg-turbo, which
//   upsample chroma differently) within a mean of 1.5 levels per channel;
// - end to end from .jpg files to EfficientNet-Lite0's reference input (ref/efficientnet-lite0/
//   input.npy, made with Pillow), and the same top-1 on the 20 photos from our tensors;
// - bad images and bad options as typed errors.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { imageToTensor, decodeImage, readNpy, InferenceSession } from '../../js/index.js';
import { ROOT, FIXTURES, fixture, npy, argmax, rejects } from './helpers.mjs';

const IMAGES = path.join(FIXTURES, 'images', 'imagenet');
const PICK = ['imagenet_00_243.jpg', 'imagenet_10_541.jpg', 'imagenet_13_471.jpg']; // 512x512 twice, 1024x683
const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
// Option sets and how numpy + Pillow compute the same thing (the `ref` Python expression).
const CASES = [
  { name: 'short side 256, crop 224, (x-127)/128, NCHW RGB (EfficientNet-Lite0)', options: { resize: 256, size: 224, scale: 1, mean: 127, std: 128 } },
  { name: 'cover 200x300, ImageNet mean/std, NHWC BGR', options: { size: [200, 300], ...IMAGENET, channels: 'bgr', layout: 'nhwc' } },
  { name: 'stretch to 28x28 gray, /255', options: { size: 28, resize: 'stretch', channels: 'gray' } },
  { name: 'no resize, centre crop 101x120', options: { size: [101, 120], resize: 'none', mean: [1, 2, 3], std: 0.5, scale: 1 } },
  { name: 'upscale: short side 700, crop 640x700', options: { resize: 700, size: [640, 700] } },
];

const PY_REFERENCE = String.raw`
import json, sys
import numpy as np
from PIL import Image
src, out, cases = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
def resized(im, o):
    w, h = im.size
    size = o.get('size'); size = [size, size] if isinstance(size, int) else size
    r = o.get('resize', 'cover' if size else 'none')
    if r == 'stretch': return im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    if r == 'none': return im
    s = max(size[0] / h, size[1] / w) if r == 'cover' else r / min(w, h)
    nw, nh = int(round(w * s)), int(round(h * s))
    if r == 'cover': nw, nh = max(nw, size[1]), max(nh, size[0])
    return im.resize((nw, nh), Image.Resampling.BILINEAR)
for name in json.loads(sys.argv[4]):
    im = Image.open(f'{src}/{name}').convert('RGB')
    np.asarray(im).tofile(f'{out}/{name}.rgb')
    json.dump(im.size, open(f'{out}/{name}.json', 'w'))
    for i, o in enumerate(cases):
        gray = o.get('channels') == 'gray'
        a = np.asarray(resized(im.convert('L') if gray else im, o), dtype=np.float32)
        if gray: a = a[:, :, None]
        size = o.get('size'); size = [size, size] if isinstance(size, int) else size
        H, W = a.shape[:2]; t, l = (H - size[0]) // 2, (W - size[1]) // 2
        a = a[t:t + size[0], l:l + size[1]]
        if o.get('channels') == 'bgr': a = a[:, :, ::-1]
        c = a.shape[2]
        mean = np.broadcast_to(np.array(o.get('mean', 0), dtype=np.float64), (c,))
        std = np.broadcast_to(np.array(o.get('std', 1), dtype=np.float64), (c,))
        v = ((a.astype(np.float64) * o.get('scale', 1 / 255) - mean) / std).astype(np.float32)
        if o.get('layout', 'nchw') == 'nchw': v = v.transpose(2, 0, 1)
        np.save(f'{out}/{name}.{i}.npy', np.ascontiguousarray(v[None]))
    # PNG encodings of the same photo: RGB, RGBA (alpha 200) and gray, for the PNG decoder.
    im.save(f'{out}/{name}.png')
    rgba = im.copy(); rgba.putalpha(200); rgba.save(f'{out}/{name}.rgba.png')
    np.asarray(rgba).tofile(f'{out}/{name}.rgba')
    im.convert('L').save(f'{out}/{name}.gray.png')
    np.asarray(im.convert('L')).tofile(f'{out}/{name}.gray')
`;

let tmp;

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'webptq-image-'));
  const r = spawnSync(path.join(ROOT, '.venv', 'bin', 'python'),
    ['-c', PY_REFERENCE, IMAGES, tmp, JSON.stringify(CASES.map((c) => c.options)), JSON.stringify(PICK)], { encoding: 'utf8' });
  assert.equal(r.status, 0, `the Pillow reference failed: ${r.stderr}`);
});

after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** Pillow's decoded pixels as ImageData-like RGBA. */
function pillowPixels(name) {
  const [width, height] = JSON.parse(fs.readFileSync(path.join(tmp, `${name}.json`), 'utf8'));
  const rgb = fs.readFileSync(path.join(tmp, `${name}.rgb`));
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    data[4 * i] = rgb[3 * i];
    data[4 * i + 1] = rgb[3 * i + 1];
    data[4 * i + 2] = rgb[3 * i + 2];
    data[4 * i + 3] = 255;
  }
  return { width, height, data };
}

function maxAbs(a, b) {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('the same pixels give Pillow + numpy results (resize, crop, gray, mean/std, layout, order)', async () => {
  for (const name of PICK) {
    const pixels = pillowPixels(name);
    for (const [i, c] of CASES.entries()) {
      const t = await imageToTensor(pixels, c.options);
      const ref = readNpy(fs.readFileSync(path.join(tmp, `${name}.${i}.npy`)));
      assert.deepEqual(t.dims, ref.dims, `${name}: ${c.name}`);
      assert.equal(t.type, 'float32');
      const d = maxAbs(t.data, ref.data);
      assert.ok(d <= 1e-6, `${name}: ${c.name}: max abs diff ${d}`);
    }
  }
  // A batch stacks images along the first axis.
  const both = await imageToTensor(PICK.slice(0, 2).map(pillowPixels), CASES[0].options);
  assert.deepEqual(both.dims, [2, 3, 224, 224]);
  const second = readNpy(fs.readFileSync(path.join(tmp, `${PICK[1]}.0.npy`)));
  assert.equal(maxAbs(both.data.subarray(3 * 224 * 224), second.data), 0);
});

test('Node decoding: PNG exactly as Pillow, JPEG within 1.5 levels', async () => {
  for (const name of PICK) {
    const png = await decodeImage(fs.readFileSync(path.join(tmp, `${name}.png`)));
    assert.deepEqual(Buffer.from(png.data), Buffer.from(pillowPixels(name).data), `${name}.png`);
    const rgba = await decodeImage(path.join(tmp, `${name}.rgba.png`)); // a path works too
    assert.deepEqual(Buffer.from(rgba.data), fs.readFileSync(path.join(tmp, `${name}.rgba`)));
    const gray = await imageToTensor(new Blob([fs.readFileSync(path.join(tmp, `${name}.gray.png`))]), { channels: 'gray', scale: 1 });
    assert.deepEqual(Array.from(gray.data), Array.from(fs.readFileSync(path.join(tmp, `${name}.gray`))), `${name}.gray.png`);

    const jpg = await decodeImage(fs.readFileSync(path.join(IMAGES, name)));
    const ref = pillowPixels(name);
    assert.deepEqual([jpg.width, jpg.height], [ref.width, ref.height]);
    let sum = 0;
    for (let i = 0; i < ref.data.length; i++) if (i % 4 !== 3) sum += Math.abs(jpg.data[i] - ref.data[i]);
    const mean = sum / (ref.data.length * 0.75);
    console.log(`${name}: jpeg-js vs Pillow mean abs diff ${mean.toFixed(3)} levels`);
    assert.ok(mean <= 1.5, `${name}: mean abs diff ${mean}`);
  }
});

test('from .jpg files to EfficientNet-Lite0 input: close to the Pillow reference, same top-1', async () => {
  const files = fs.readdirSync(IMAGES).filter((f) => f.endsWith('.jpg')).sort();
  assert.equal(files.length, 20);
  const x = await imageToTensor(files.map((f) => path.join(IMAGES, f)), CASES[0].options);
  const ref = npy('ref/efficientnet-lite0/input.npy');
  assert.deepEqual(x.dims, ref.dims);
  let sum = 0;
  for (let i = 0; i < ref.data.length; i++) sum += Math.abs(x.data[i] - ref.data[i]);
  const mean = (sum / ref.data.length) * 128;
  console.log(`efficientnet input from .jpg: mean abs diff ${mean.toFixed(3)} levels from Pillow's`);
  assert.ok(mean <= 1.5, `mean abs diff ${mean} levels`);
  const session = await InferenceSession.create(fs.readFileSync(fixture('models/efficientnet-lite0.onnx')));
  const logits = (await session.run({ input: x })).logits.data;
  await session.release();
  const ours = argmax(logits, 1000);
  const theirs = argmax(npy('ref/efficientnet-lite0/logits.npy').data, 1000);
  const same = ours.filter((c, i) => c === theirs[i]).length;
  console.log(`efficientnet top-1 from our tensors equals the reference's on ${same}/20 photos`);
  assert.ok(same >= 19, `top-1 agrees on ${same}/20`);
});

test('bad images and options are typed errors', async () => {
  await rejects(decodeImage(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])), 'INVALID_IMAGE', /not a PNG or JPEG/);
  const jpg = fs.readFileSync(path.join(IMAGES, PICK[0]));
  await rejects(decodeImage(jpg.subarray(0, 2000)), 'INVALID_IMAGE', /cannot decode .* as JPEG/);
  await rejects(imageToTensor({ width: 2, height: 2, data: new Uint8Array(12) }), 'INVALID_IMAGE', /16 RGBA bytes/);
  await rejects(imageToTensor(path.join(IMAGES, 'nope.jpg')), 'NOT_FOUND', /nope\.jpg/);
  const px = { width: 4, height: 4, data: new Uint8Array(64) };
  await rejects(imageToTensor(px, { layout: 'chw' }), 'INVALID_OPTIONS', /layout/);
  await rejects(imageToTensor(px, { channels: 'rgba' }), 'INVALID_OPTIONS', /channels/);
  await rejects(imageToTensor(px, { mean: [1, 2] }), 'INVALID_OPTIONS', /3 numbers/);
  await rejects(imageToTensor(px, { std: 0 }), 'INVALID_OPTIONS', /std/);
  await rejects(imageToTensor(px, { resize: 'cover' }), 'INVALID_OPTIONS', /needs options.size/);
  await rejects(imageToTensor(px, { size: [8, 8], resize: 'none' }), 'INVALID_IMAGE', /smaller than the crop/);
  await rejects(imageToTensor(px, { sise: 4 }), 'INVALID_OPTIONS', /unknown image option 'sise'/);
  await rejects(imageToTensor([px, { width: 2, height: 2, data: new Uint8Array(16) }]), 'INVALID_OPTIONS', /different sizes/);
  await rejects(imageToTensor([]), 'INVALID_ARGUMENT', /at least one/);
});
