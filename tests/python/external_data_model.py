#!/usr/bin/env python3
"""Writes small models whose weights are in external files, for the CLI and loadModel tests.

    .venv/bin/python tests/python/external_data_model.py DIR

DIR/ext/model.onnx: y = MatMul(x[N,16], W[16,8]) + B[8], W and B saved by onnx.save_model with
save_as_external_data=True into DIR/ext/weights.bin; DIR/ext/expected.json holds, for
x = arange(32).reshape(2,16)/32, onnxruntime's y (flattened). DIR/escape/model.onnx is the same
graph whose tensors name the location '../outside.bin' (a file outside its folder, which exists).
"""

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def graph() -> onnx.ModelProto:
    rng = np.random.default_rng(3)
    w = numpy_helper.from_array(rng.uniform(-1, 1, (16, 8)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.uniform(-1, 1, (8,)).astype(np.float32), "B")
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["m"], name="mm"), helper.make_node("Add", ["m", "B"], ["y"], name="add")],
        "ext",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])],
        [w, b],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="webptq-tests")


def main() -> None:
    out = Path(sys.argv[1])
    ext = out / "ext"
    ext.mkdir(parents=True, exist_ok=True)
    m = graph()
    onnx.save_model(m, str(ext / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    x = (np.arange(32, dtype=np.float32).reshape(2, 16) / 32).astype(np.float32)
    y = ort.InferenceSession(str(ext / "model.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    (ext / "expected.json").write_text(json.dumps({"x": x.ravel().tolist(), "y": y.ravel().tolist()}))
    escape = out / "escape"
    escape.mkdir(exist_ok=True)
    (out / "outside.bin").write_bytes((ext / "weights.bin").read_bytes())
    m2 = onnx.load(str(ext / "model.onnx"), load_external_data=False)
    for t in m2.graph.initializer:
        for kv in t.external_data:
            if kv.key == "location":
                kv.value = "../outside.bin"
    onnx.save_model(m2, str(escape / "model.onnx"))


if __name__ == "__main__":
    main()
