#!/usr/bin/env python3
"""onnxruntime on the models our opset upgrade wrote (tests/opset_upgrade.rs):

    cargo test --release --test opset_upgrade        # writes target/opset-upgrade/
    .venv/bin/python tests/python/check_opset_upgrade.py

For every case directory (an opset 7-12 model converted by webptq to opset 13, with the
onnxruntime outputs of the ORIGINAL model as test_data_set_0/output_K.pb): onnx.checker (full
check) accepts the converted model, it declares opset 13, and onnxruntime gives the original's
outputs on it (rtol 1e-5, atol 1e-6; integer outputs exactly), with and without its graph
optimizations. Then efficientnet-lite0-opset9-int8.onnx (per-channel quantization of the opset-9
form of the fixture CNN) must declare opset >= 13, run in onnxruntime and follow the float model
on the fixture images (output SQNR >= 15 dB, top-1 agreement >= 75%).
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
from onnx import numpy_helper

ROOT = Path(__file__).resolve().parents[2]
DIR = ROOT / "target" / "opset-upgrade"
FIXTURES = Path(os.environ.get("WEBPTQ_FIXTURES") or ROOT / ".cache" / "fixtures")


def read_pb(path: Path) -> np.ndarray:
    t = onnx.TensorProto()
    t.ParseFromString(path.read_bytes())
    return numpy_helper.to_array(t)


def numbered(d: Path, prefix: str) -> list[np.ndarray]:
    out, k = [], 0
    while (d / f"{prefix}_{k}.pb").exists():
        out.append(read_pb(d / f"{prefix}_{k}.pb"))
        k += 1
    return out


def opset(m: onnx.ModelProto) -> int:
    return next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))


def check_case(d: Path) -> None:
    m = onnx.load(str(d / "model.onnx"))
    onnx.checker.check_model(m, full_check=True)
    assert opset(m) == 13, f"opset {opset(m)}"
    data = d / "test_data_set_0"
    (x,) = numbered(data, "input")
    expected = numbered(data, "output")
    for level in (ort.GraphOptimizationLevel.ORT_DISABLE_ALL, ort.GraphOptimizationLevel.ORT_ENABLE_ALL):
        so = ort.SessionOptions()
        so.graph_optimization_level = level
        sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
        got = sess.run(None, {"x": x})
        assert len(got) == len(expected), f"{len(got)} outputs, expected {len(expected)}"
        for k, (g, w) in enumerate(zip(got, expected)):
            assert g.dtype == w.dtype and g.shape == w.shape, f"output {k}: {g.dtype}{g.shape} vs {w.dtype}{w.shape}"
            if np.issubdtype(w.dtype, np.floating):
                np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=f"output {k} ({level})")
            else:
                np.testing.assert_array_equal(g, w, err_msg=f"output {k} ({level})")


def check_cnn(path: Path) -> str:
    m = onnx.load(str(path))
    onnx.checker.check_model(m, full_check=True)
    assert opset(m) >= 13, f"opset {opset(m)}"
    x = np.load(FIXTURES / "ref" / "efficientnet-lite0" / "input.npy")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref = ort.InferenceSession(str(FIXTURES / "models" / "efficientnet-lite0.onnx"), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    (y,) = sess.run(None, {name: x})
    (f,) = ref.run(None, {name: x})
    sqnr = 10 * np.log10((f.astype(np.float64) ** 2).sum() / ((f - y).astype(np.float64) ** 2).sum())
    agree = float((f.argmax(1) == y.argmax(1)).mean())
    assert sqnr >= 15 and agree >= 0.75, f"SQNR {sqnr:.2f} dB, top-1 agreement {agree:.2f}"
    return f"SQNR {sqnr:.2f} dB, top-1 agreement {agree:.2f} on {len(x)} images"


def main() -> int:
    cases = sorted(p for p in DIR.iterdir() if p.is_dir()) if DIR.is_dir() else []
    if len(cases) < 40:
        print(f"expected the converted cases in {DIR}: run cargo test --release --test opset_upgrade first")
        return 1
    passed, failed = 0, 0
    for d in cases:
        try:
            check_case(d)
            passed += 1
        except Exception:
            failed += 1
            print(f"FAIL {d.name}:\n{traceback.format_exc()}")
    cnn = DIR / "efficientnet-lite0-opset9-int8.onnx"
    try:
        print(f"{cnn.name}: {check_cnn(cnn)}")
        passed += 1
    except Exception:
        failed += 1
        print(f"FAIL {cnn.name}:\n{traceback.format_exc()}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
