#!/usr/bin/env python3
# Writes silu_stack.onnx (and 8 random calibration images, silu_stack.calib.npy) into DIR:
#   .venv/bin/python benches/silu_stack.py DIR
#   node bin/webptq.js quantize DIR/silu_stack.onnx -o DIR/silu_q.onnx --calib DIR/silu_stack.calib.npy --batch-size 1
#   node bin/webptq.js bench DIR/silu_stack.onnx --int8 DIR/silu_q.onnx --profile
# The SiLU-heavy model behind the lookup-table figures of docs/quantization.md §13.
# A YOLOv5-like backbone slice: Conv (BN folded) + SiLU (Sigmoid, Mul) blocks, stride-2 downsampling
# and C3-style 1x1/3x3 bottlenecks with residual Add, on a 320x320 input.
import sys
from pathlib import Path
import numpy as np, onnx
from onnx import helper as h, TensorProto as T, numpy_helper as nh
out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
rng = np.random.default_rng(0)
nodes, inits = [], []
def conv(x, cin, cout, k, s, name):
    w = (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
    b = (rng.standard_normal(cout) * 0.1).astype(np.float32)
    inits.extend([nh.from_array(w, name + ".w"), nh.from_array(b, name + ".b")])
    nodes.append(h.make_node("Conv", [x, name + ".w", name + ".b"], [name + ".c"], kernel_shape=[k, k], strides=[s, s], pads=[k // 2] * 4, name=name))
    nodes.append(h.make_node("Sigmoid", [name + ".c"], [name + ".s"], name=name + ".sig"))
    nodes.append(h.make_node("Mul", [name + ".c", name + ".s"], [name + ".y"], name=name + ".mul"))
    return name + ".y"
x = conv("images", 3, 16, 3, 2, "stem")
c = 16
for stage, cout in enumerate([32, 64, 128]):
    x = conv(x, c, cout, 3, 2, f"down{stage}"); c = cout
    for b in range(1 if stage == 0 else 2):
        y = conv(x, c, c // 2, 1, 1, f"s{stage}b{b}a")
        y = conv(y, c // 2, c, 3, 1, f"s{stage}b{b}b")
        nodes.append(h.make_node("Add", [x, y], [f"s{stage}b{b}.add"], name=f"s{stage}b{b}.add")); x = f"s{stage}b{b}.add"
x = conv(x, c, 64, 1, 1, "head")
g = h.make_graph(nodes, "silu_stack", [h.make_tensor_value_info("images", T.FLOAT, [1, 3, 320, 320])],
                 [h.make_tensor_value_info(x, T.FLOAT, [1, 64, 20, 20])], inits)
m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)]); m.ir_version = 8
onnx.checker.check_model(m); onnx.save(m, str(out / "silu_stack.onnx"))
np.save(str(out / "silu_stack.calib.npy"), rng.uniform(0, 1, (8, 3, 320, 320)).astype(np.float32))
print("ok")
