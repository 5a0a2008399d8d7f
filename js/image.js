// Images to tensors: decode (browser: createImageBitmap and a canvas; Node: PNG with pngjs and
// JPEG with jpeg-js, loaded only in Node), convert to RGB, BGR or gray, resize, centre crop,
// normalize, lay out as NCHW or NHWC. Everything after decoding is plain JS on 8-bit pixels, so a
// browser and Node give the same tensor for the same pixels.
//
// Resizing is Pillow's Image.resize(BILINEAR), reproduced to the bit: a triangle filter whose
// support widens with the scale when shrinking (so it averages, no aliasing), fixed-point weights
// with 22 fractional bits, the horizontal pass first, each pass rounded to 8 bits. Gray is
// Pillow's convert('L') (ITU-R 601-2 luma, 16-bit fixed point). A model trained on images
// prepared with Pillow sees the same numbers here.
import { WebptqError } from './errors.js';
import { Tensor } from './tensor.js';
import { readSource, isNode } from './source.js';

const invalid = (message) => new WebptqError('INVALID_OPTIONS', message);
const badImage = (message, cause) => new WebptqError('INVALID_IMAGE', message, cause ? { cause } : undefined);

// ---- decoding -------------------------------------------------------------------------------

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const startsWith = (bytes, magic) => magic.every((b, i) => bytes[i] === b);

/** 'png', 'jpeg' or null, from the first bytes. */
export function sniffImage(bytes) {
  if (bytes.length >= 8 && startsWith(bytes, PNG_MAGIC)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}

async function decodeInNode(bytes, name) {
  const kind = sniffImage(bytes);
  try {
    if (kind === 'png') {
      const { PNG } = (await import(/* webpackIgnore: true */ /* @vite-ignore */ 'pngjs')).default;
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { width: png.width, height: png.height, data: new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.length) };
    }
    if (kind === 'jpeg') {
      const jpeg = (await import(/* webpackIgnore: true */ /* @vite-ignore */ 'jpeg-js')).default;
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
      return { width: img.width, height: img.height, data: new Uint8ClampedArray(img.data.buffer, img.data.byteOffset, img.data.length) };
    }
  } catch (e) {
    throw badImage(`cannot decode ${name} as ${kind === 'png' ? 'PNG' : 'JPEG'}: ${e?.message ?? e}`, e);
  }
  throw badImage(`${name} is not a PNG or JPEG image (in Node webptq decodes those two; browsers read any format they support)`);
}

/** A 2D context on a new canvas of w x h (OffscreenCanvas where there is one, else a <canvas>). */
function canvas2d(w, h) {
  let c;
  if (typeof OffscreenCanvas === 'function') c = new OffscreenCanvas(w, h);
  else if (typeof document === 'object') c = Object.assign(document.createElement('canvas'), { width: w, height: h });
  else throw badImage('this environment has no canvas to read the image with');
  const ctx = c.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw badImage('could not get a 2D canvas context to read the image with');
  return ctx;
}

/** The RGBA pixels of anything a canvas can draw (ImageBitmap, <img>, <canvas>, <video>, VideoFrame...). */
async function drawablePixels(source) {
  if (typeof HTMLImageElement === 'function' && source instanceof HTMLImageElement) {
    try {
      await source.decode();
    } catch (e) {
      throw badImage(`the <img> (${source.currentSrc || source.src || 'no src'}) could not be decoded`, e);
    }
  }
  const w = source.naturalWidth || source.videoWidth || source.displayWidth || source.width;
  const h = source.naturalHeight || source.videoHeight || source.displayHeight || source.height;
  if (!(w > 0 && h > 0)) throw badImage(`the image source has no pixels (${w}x${h})`);
  const ctx = canvas2d(w, h);
  ctx.drawImage(source, 0, 0, w, h);
  try {
    return ctx.getImageData(0, 0, w, h);
  } catch (e) {
    throw badImage(`cannot read the pixels of the image: ${e?.message ?? e} (a cross-origin image needs CORS)`, e);
  }
}

async function decodeInBrowser(bytes, type, name) {
  if (typeof createImageBitmap !== 'function') throw badImage(`cannot decode ${name}: this environment has no createImageBitmap`);
  let bitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes], type ? { type } : undefined),
      { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch (e) {
    throw badImage(`${name} could not be decoded as an image: ${e?.message ?? e}`, e);
  }
  try {
    return await drawablePixels(bitmap);
  } finally {
    bitmap.close?.();
  }
}

const isImageData = (x) => x !== null && typeof x === 'object' && Number.isInteger(x.width) && Number.isInteger(x.height)
  && x.data != null && typeof x.data.length === 'number' && !(typeof Blob === 'function' && x instanceof Blob);
const isDrawable = (x) => (typeof ImageBitmap === 'function' && x instanceof ImageBitmap)
  || (typeof HTMLImageElement === 'function' && x instanceof HTMLImageElement)
  || (typeof HTMLCanvasElement === 'function' && x instanceof HTMLCanvasElement)
  || (typeof OffscreenCanvas === 'function' && x instanceof OffscreenCanvas)
  || (typeof HTMLVideoElement === 'function' && x instanceof HTMLVideoElement)
  || (typeof VideoFrame === 'function' && x instanceof VideoFrame)
  || (typeof SVGImageElement === 'function' && x instanceof SVGImageElement);

/**
 * The RGBA pixels of an image: `{ width, height, data }` (data: Uint8ClampedArray, 4 per pixel).
 * Takes ImageData (or any `{ width, height, data }` with RGBA bytes), ImageBitmap, <img>, <canvas>,
 * OffscreenCanvas, <video>, VideoFrame, or encoded image bytes / a File or Blob / a URL (and in
 * Node a path): PNG and JPEG in Node, any format the browser reads in a browser.
 * @param {unknown} source
 * @param {{ signal?: AbortSignal }} [options]
 */
export async function decodeImage(source, options = {}) {
  if (isImageData(source)) {
    const { width, height, data } = source;
    if (data.length !== width * height * 4) {
      throw badImage(`image data of ${width}x${height} needs ${width * height * 4} RGBA bytes, got ${data.length}`);
    }
    return { width, height, data };
  }
  if (isDrawable(source)) return drawablePixels(source);
  const name = typeof source === 'string' ? `'${source}'` : (typeof source?.name === 'string' && source.name ? `'${source.name}'` : 'the image');
  const { bytes, contentType } = await readSource(source, { signal: options.signal, what: `image ${name}`, stage: 'read' });
  if (isNode) return decodeInNode(bytes, name);
  return decodeInBrowser(bytes, contentType || (typeof source?.type === 'string' ? source.type : ''), name);
}

// ---- pixels ---------------------------------------------------------------------------------

/** RGBA → packed RGB (3 per pixel) or gray (1 per pixel, Pillow's L = 299/1000 R + 587/1000 G + 114/1000 B). */
export function packPixels({ width, height, data }, gray) {
  const n = width * height;
  const out = new Uint8Array(n * (gray ? 1 : 3));
  if (gray) {
    for (let i = 0; i < n; i++) out[i] = (data[4 * i] * 19595 + data[4 * i + 1] * 38470 + data[4 * i + 2] * 7471 + 0x8000) >>> 16;
  } else {
    for (let i = 0; i < n; i++) {
      out[3 * i] = data[4 * i];
      out[3 * i + 1] = data[4 * i + 1];
      out[3 * i + 2] = data[4 * i + 2];
    }
  }
  return out;
}

const PRECISION_BITS = 22;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

/** Pillow's precompute_coeffs for the bilinear filter, as fixed-point weights. */
function coefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filterscale; // the bilinear filter's support is 1
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Float64Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * ss);
      w[x] = t < 1 ? 1 - t : 0;
      ww += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0 ? w[x] / ww : w[x];
      weights[xx * ksize + x] = Math.trunc(k < 0 ? -0.5 + k * ONE : 0.5 + k * ONE);
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { bounds, weights, ksize };
}

const clip8 = (ss) => {
  const v = Math.floor(ss / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
};

/**
 * Resizes packed 8-bit pixels (`channels` per pixel) from w x h to outW x outH exactly as
 * Pillow's Image.resize((outW, outH), BILINEAR) does.
 */
export function resizeBilinear(pixels, w, h, channels, outW, outH) {
  let src = pixels;
  let cw = w;
  if (outW !== w) {
    const { bounds, weights, ksize } = coefficients(w, outW);
    const tmp = new Uint8Array(outW * h * channels);
    for (let y = 0; y < h; y++) {
      const row = y * w * channels;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = bounds[2 * xx];
        const n = bounds[2 * xx + 1];
        const k = xx * ksize;
        for (let c = 0; c < channels; c++) {
          let ss = HALF;
          for (let x = 0; x < n; x++) ss += src[row + (xmin + x) * channels + c] * weights[k + x];
          tmp[(y * outW + xx) * channels + c] = clip8(ss);
        }
      }
    }
    src = tmp;
    cw = outW;
  }
  if (outH !== h) {
    const { bounds, weights, ksize } = coefficients(h, outH);
    const out = new Uint8Array(cw * outH * channels);
    const stride = cw * channels;
    for (let yy = 0; yy < outH; yy++) {
      const ymin = bounds[2 * yy];
      const n = bounds[2 * yy + 1];
      const k = yy * ksize;
      for (let i = 0; i < stride; i++) {
        let ss = HALF;
        for (let y = 0; y < n; y++) ss += src[(ymin + y) * stride + i] * weights[k + y];
        out[yy * stride + i] = clip8(ss);
      }
    }
    src = out;
  }
  return src === pixels ? pixels.slice() : src;
}

// ---- options --------------------------------------------------------------------------------

/** Python's round(): half to even (the fixtures and most Python pipelines size images with it). */
function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function pair(v, name) {
  const p = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || !p.every((d) => Number.isSafeInteger(d) && d > 0)) {
    throw invalid(`options.${name} must be a positive integer or [height, width], got ${JSON.stringify(v)}`);
  }
  return p;
}

function perChannel(v, name, channels, dflt) {
  if (v === undefined) return new Array(channels).fill(dflt);
  const list = typeof v === 'number' ? new Array(channels).fill(v) : v;
  if (!Array.isArray(list) || list.length !== channels || !list.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw invalid(`options.${name} must be a number or ${channels} numbers (one per channel), got ${JSON.stringify(v)}`);
  }
  if (name === 'std' && list.some((x) => x === 0)) throw invalid('options.std must not contain 0');
  return list;
}

const IMAGE_OPTIONS = new Set(['size', 'resize', 'mean', 'std', 'scale', 'layout', 'channels', 'signal']);

/** Checks and fills in the image options (see imageToTensor). */
export function imageOptions(options = {}) {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw invalid('options must be an object');
  for (const k of Object.keys(options)) {
    if (!IMAGE_OPTIONS.has(k)) throw invalid(`unknown image option '${k}' (options: ${[...IMAGE_OPTIONS].join(', ')})`);
  }
  const channels = options.channels ?? 'rgb';
  if (!['rgb', 'bgr', 'gray'].includes(channels)) throw invalid(`options.channels must be 'rgb', 'bgr' or 'gray', got '${channels}'`);
  const layout = options.layout ?? 'nchw';
  if (!['nchw', 'nhwc'].includes(layout)) throw invalid(`options.layout must be 'nchw' or 'nhwc', got '${layout}'`);
  const size = options.size === undefined ? null : pair(options.size, 'size');
  const resize = options.resize ?? (size ? 'cover' : 'none');
  if (!(['cover', 'stretch', 'none'].includes(resize) || (Number.isSafeInteger(resize) && resize > 0))) {
    throw invalid(`options.resize must be 'cover', 'stretch', 'none' or a positive integer (the shorter side), got ${JSON.stringify(resize)}`);
  }
  if ((resize === 'cover' || resize === 'stretch') && !size) throw invalid(`options.resize '${resize}' needs options.size`);
  const c = channels === 'gray' ? 1 : 3;
  const scale = options.scale ?? 1 / 255;
  if (typeof scale !== 'number' || !Number.isFinite(scale)) throw invalid(`options.scale must be a finite number, got ${scale}`);
  return {
    size, resize, layout, channels, scale,
    mean: perChannel(options.mean, 'mean', c, 0),
    std: perChannel(options.std, 'std', c, 1),
  };
}

/** The size [h, w] an image of h x w is scaled to before the crop. */
function scaledSize(h, w, { size, resize }) {
  if (resize === 'none') return [h, w];
  if (resize === 'stretch') return size;
  if (resize === 'cover') {
    const s = Math.max(size[0] / h, size[1] / w);
    return [Math.max(size[0], roundHalfEven(h * s)), Math.max(size[1], roundHalfEven(w * s))];
  }
  const s = resize / Math.min(h, w);
  return [roundHalfEven(h * s), roundHalfEven(w * s)];
}

/**
 * One image's pixels → its [C, H, W] or [H, W, C] values, written into `out` at `offset`.
 * Resize, then centre crop (top/left = floor of half the excess), then (p * scale - mean) / std.
 * @returns {[number, number]} the [height, width] written
 */
export function writePixels(image, opts, out, offset) {
  const gray = opts.channels === 'gray';
  const c = gray ? 1 : 3;
  let pixels = packPixels(image, gray);
  const [sh, sw] = scaledSize(image.height, image.width, opts);
  if (sh !== image.height || sw !== image.width) pixels = resizeBilinear(pixels, image.width, image.height, c, sw, sh);
  const [h, w] = opts.size ?? [sh, sw];
  if (h > sh || w > sw) {
    throw badImage(`the image is ${sw}x${sh} after resizing (${opts.resize}), smaller than the crop ${w}x${h}: use resize 'cover'`);
  }
  const top = Math.floor((sh - h) / 2);
  const left = Math.floor((sw - w) / 2);
  const order = opts.channels === 'bgr' ? [2, 1, 0] : gray ? [0] : [0, 1, 2];
  const nchw = opts.layout === 'nchw';
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const src = ((top + y) * sw + left + x) * c;
      for (let k = 0; k < c; k++) {
        const v = (pixels[src + order[k]] * opts.scale - opts.mean[k]) / opts.std[k];
        out[offset + (nchw ? (k * h + y) * w + x : (y * w + x) * c + k)] = v;
      }
    }
  }
  return [h, w];
}

/**
 * Images → one float32 Tensor: [N, C, H, W] (layout 'nchw', default) or [N, H, W, C]. One image
 * gives N = 1. See index.d.ts for the options.
 * @param {unknown | unknown[]} images
 * @param {object} [options]
 * @returns {Promise<Tensor>}
 */
export async function imageToTensor(images, options = {}) {
  const opts = imageOptions(options);
  const list = Array.isArray(images) ? images : [images];
  if (list.length === 0) throw new WebptqError('INVALID_ARGUMENT', 'imageToTensor needs at least one image');
  const c = opts.channels === 'gray' ? 1 : 3;
  let out = null;
  let hw = null;
  for (let i = 0; i < list.length; i++) {
    const image = await decodeImage(list[i], { signal: options.signal });
    if (!out) {
      const [sh, sw] = scaledSize(image.height, image.width, opts);
      hw = opts.size ?? [sh, sw];
      out = new Float32Array(list.length * c * hw[0] * hw[1]);
    } else if (!opts.size) {
      const [sh, sw] = scaledSize(image.height, image.width, opts);
      if (sh !== hw[0] || sw !== hw[1]) {
        throw invalid(`images of different sizes (${hw[1]}x${hw[0]} and ${sw}x${sh}) need options.size to be stacked into one tensor`);
      }
    }
    writePixels(image, opts, out, i * c * hw[0] * hw[1]);
  }
  const dims = opts.layout === 'nchw' ? [list.length, c, hw[0], hw[1]] : [list.length, hw[0], hw[1], c];
  return new Tensor('float32', out, dims);
}
