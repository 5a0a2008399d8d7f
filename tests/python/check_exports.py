#!/usr/bin/env python3
"""Load and run webptq's quantized exports in onnxruntime (a runtime we did not write).

    cargo test --test quantize_graphs --test quantize_mnist   # writes target/quantize-exports/
    .venv/bin/python tests/python/check_exports.py [DIR]

For every NAME.onnx in DIR (default target/quantize-exports) that is not itself a float
reference:
  - onnx.checker (full check) accepts it and onnxruntime's CPU provider builds a session;
  - if NAME.float.onnx is there, both run on the same seeded random inputs (uniform in [-1, 1),
    symbolic dimensions set to 2) and every output's SQNR against float is at least 15 dB;
  - mnist-*.onnx runs on the fixture digits (ref/mnist/test_x.npy in $WEBPTQ_FIXTURES or
    .cache/fixtures) and agrees with www/models/mnist-cnn.onnx on top-1 for >= 99% of them.
Exits non-zero on any failure; the last line is "N passed, M failed".
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[2]
MIN_SQNR_DB = 15.0
MIN_MNIST_AGREEMENT = 0.99
TYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32}


def session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def random_feeds(sess: ort.InferenceSession, seed: int = 7) -> dict:
    rng = np.random.default_rng(seed)
    feeds = {}
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 2 for d in i.shape]
        dtype = TYPES.get(i.type)
        assert dtype is not None, f"input {i.name}: type {i.type} not handled by this check"
        feeds[i.name] = rng.uniform(-1, 1, shape).astype(dtype)
    return feeds


def sqnr_db(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x.astype(np.float64), y.astype(np.float64)
    noise = ((x - y) ** 2).sum()
    return float("inf") if noise == 0 else float(10 * np.log10((x**2).sum() / noise))


def fixtures_dir() -> Path:
    env = os.environ.get("WEBPTQ_FIXTURES")
    return Path(env) if env else ROOT / ".cache" / "fixtures"


def check_one(path: Path) -> str:
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    q = session(path)
    ops = sorted({n.op_type for n in model.graph.node})
    notes = [f"{len(path.read_bytes())} bytes", "ops " + ",".join(ops)]
    ref = path.with_name(path.stem + ".float.onnx")
    if ref.exists():
        f = session(ref)
        feeds = random_feeds(f)
        want = f.run(None, feeds)
        got = q.run(None, feeds)
        for o, a, b in zip(f.get_outputs(), want, got):
            assert a.shape == b.shape, f"output {o.name}: shape {b.shape}, float {a.shape}"
            db = sqnr_db(a, b)
            assert db >= MIN_SQNR_DB, f"output {o.name}: SQNR {db:.1f} dB < {MIN_SQNR_DB}"
            notes.append(f"{o.name} {db:.1f} dB")
    if path.name.startswith("mnist"):
        x = np.load(fixtures_dir() / "ref" / "mnist" / "test_x.npy")
        f = session(ROOT / "www" / "models" / "mnist-cnn.onnx")
        a = f.run(None, {"input": x})[0]
        b = q.run(None, {"input": x})[0]
        agree = float((a.argmax(1) == b.argmax(1)).mean())
        assert agree >= MIN_MNIST_AGREEMENT, f"top-1 agreement {agree:.4f} < {MIN_MNIST_AGREEMENT}"
        size = path.stat().st_size / (ROOT / "www" / "models" / "mnist-cnn.onnx").stat().st_size
        notes.append(f"top-1 agreement {agree:.4f}, SQNR {sqnr_db(a, b):.1f} dB, size {size:.3f}x")
    return "; ".join(notes)


def main() -> int:
    d = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target" / "quantize-exports"
    paths = sorted(p for p in d.glob("*.onnx") if not p.name.endswith(".float.onnx"))
    if not paths:
        print(f"no exports in {d}: run `cargo test --test quantize_graphs --test quantize_mnist` first")
        return 1
    passed = failed = 0
    for p in paths:
        try:
            print(f"ok   {p.name}: {check_one(p)}")
            passed += 1
        except Exception as e:  # noqa: BLE001 - report every failure, keep going
            print(f"FAIL {p.name}: {e}")
            traceback.print_exc(limit=1)
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
