"""Writes the single-op models that benches/q8_ops.mjs times: each int8 op next to the float op
it replaces, on EfficientNet-like shapes. Usage: python benches/q8_models.py OUT_DIR"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(7)


def save(path, nodes, inputs, outputs, inits, ms=False):
    graph = helper.make_graph(nodes, os.path.basename(path), inputs, outputs, inits)
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid("com.microsoft", 1)] if ms else [])
    onnx.save(helper.make_model(graph, opset_imports=opsets, ir_version=8), path)


def vi(name, ty, shape):
    return helper.make_tensor_value_info(name, ty, shape)


def t(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def dwconv(out, name, c, hw, k, s):
    pad = k // 2
    attrs = dict(group=c, kernel_shape=[k, k], strides=[s, s], pads=[pad] * 4)
    oh = (hw + 2 * pad - k) // s + 1
    w = rng.normal(0, 0.1, (c, 1, k, k)).astype(np.float32)
    save(f"{out}/{name}_f32.onnx", [helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)],
         [vi("x", TensorProto.FLOAT, [1, c, hw, hw])], [vi("y", TensorProto.FLOAT, [1, c, oh, oh])],
         [t("w", w), t("b", rng.normal(0, 0.1, c).astype(np.float32))])
    wq = rng.integers(-127, 128, (c, 1, k, k)).astype(np.int8)
    ws = (np.abs(w).reshape(c, -1).max(1) / 127).astype(np.float32)
    inits = [t("xs", np.float32(0.02)), t("xz", np.uint8(128)), t("w", wq), t("ws", ws), t("wz", np.zeros(c, np.int8)),
             t("ys", np.float32(0.05)), t("yz", np.uint8(120)), t("b", rng.integers(-2000, 2000, c).astype(np.int32))]
    save(f"{out}/{name}_q8.onnx",
         [helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"], **attrs)],
         [vi("x", TensorProto.UINT8, [1, c, hw, hw])], [vi("y", TensorProto.UINT8, [1, c, oh, oh])], inits)


def binary(out, name, op, shape_a, shape_b):
    save(f"{out}/{name}_f32.onnx", [helper.make_node(op, ["a", "b"], ["y"])],
         [vi("a", TensorProto.FLOAT, shape_a), vi("b", TensorProto.FLOAT, shape_b)], [vi("y", TensorProto.FLOAT, None)], [])
    inits = [t("as", np.float32(0.02)), t("az", np.uint8(128)), t("bs", np.float32(0.03)), t("bz", np.uint8(100)),
             t("ys", np.float32(0.05)), t("yz", np.uint8(120))]
    save(f"{out}/{name}_q8.onnx",
         [helper.make_node("QLinear" + op, ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"], domain="com.microsoft")],
         [vi("a", TensorProto.UINT8, shape_a), vi("b", TensorProto.UINT8, shape_b)], [vi("y", TensorProto.UINT8, None)],
         inits, ms=True)


def pool(out, name, op, shape, **attrs):
    save(f"{out}/{name}_f32.onnx", [helper.make_node(op, ["x"], ["y"], **attrs)],
         [vi("x", TensorProto.FLOAT, shape)], [vi("y", TensorProto.FLOAT, None)], [])
    inits = [t("xs", np.float32(0.02)), t("xz", np.uint8(128)), t("ys", np.float32(0.05)), t("yz", np.uint8(120))]
    if op == "MaxPool":
        node = helper.make_node(op, ["x"], ["y"], **attrs)
        inits = []
    else:
        node = helper.make_node("QLinear" + op, ["x", "xs", "xz", "ys", "yz"], ["y"], domain="com.microsoft", **attrs)
    save(f"{out}/{name}_q8.onnx", [node], [vi("x", TensorProto.UINT8, shape)], [vi("y", TensorProto.UINT8, None)],
         inits, ms=op != "MaxPool")


def main(out):
    os.makedirs(out, exist_ok=True)
    dwconv(out, "dw_144x56x56_k3s1", 144, 56, 3, 1)
    dwconv(out, "dw_240x28x28_k5s2", 240, 28, 5, 2)
    dwconv(out, "dw_672x14x14_k5s1", 672, 14, 5, 1)
    dwconv(out, "dw_96x112x112_k3s2", 96, 112, 3, 2)
    dwconv(out, "dw_1152x7x7_k3s1", 1152, 7, 3, 1)
    binary(out, "add_40x28x28", "Add", [1, 40, 28, 28], [1, 40, 28, 28])
    binary(out, "mul_se_672x14x14", "Mul", [1, 672, 14, 14], [1, 672, 1, 1])
    pool(out, "gap_1280x7x7", "GlobalAveragePool", [1, 1280, 7, 7])
    pool(out, "maxpool_64x112x112_k3s2", "MaxPool", [1, 64, 112, 112], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    pool(out, "avgpool_64x56x56_k3s1", "AveragePool", [1, 64, 56, 56], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".cache/bench-q8")
