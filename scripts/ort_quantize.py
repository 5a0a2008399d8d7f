"""onnxruntime's own static quantization of a float model, as the reference webptq is compared with.

    python scripts/ort_quantize.py MODEL.onnx OUT.onnx --calib NAME=FILE.npy [...] \
        [--method minmax|percentile] [--percentile 99.999] [--per-tensor] [--format qdq|qoperator] \
        [--batch N]

Calibration data: one .npy per model input, first axis = samples (with a single input,
`--calib FILE.npy` is enough), fed to onnxruntime's calibrator in batches of N (default 8).
Settings follow webptq's defaults so the two are comparable: per-channel int8 weights, uint8
activations, QDQ. onnxruntime's own pre-processing (`quant_pre_process`: shape inference and
graph optimization) runs first, as its documentation recommends.

`compare` (scripts/compare_ort.mjs) and the benchmarks (onnxruntime-web int8 models) use this.
"""
import argparse
import os
import sys
import tempfile

import numpy as np
import onnx
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process


class NpyReader(CalibrationDataReader):
    """Yields {input: rows[i:i+batch]} for every batch of the samples."""

    def __init__(self, arrays, batch):
        n = {len(a) for a in arrays.values()}
        if len(n) != 1:
            raise SystemExit(f"calibration arrays have different sample counts: { {k: len(a) for k, a in arrays.items()} }")
        self.arrays, self.batch, self.n, self.i = arrays, batch, n.pop(), 0

    def get_next(self):
        if self.i >= self.n:
            return None
        lo, hi = self.i, min(self.i + self.batch, self.n)
        self.i = hi
        return {k: a[lo:hi] for k, a in self.arrays.items()}

    def rewind(self):
        self.i = 0


def read_calibration(model_path, specs):
    inputs = [i.name for i in onnx.load(model_path, load_external_data=False).graph.input]
    inits = {t.name for t in onnx.load(model_path, load_external_data=False).graph.initializer}
    inputs = [i for i in inputs if i not in inits]
    arrays = {}
    for spec in specs:
        if "=" in spec:
            name, path = spec.split("=", 1)
        elif len(inputs) == 1:
            name, path = inputs[0], spec
        else:
            raise SystemExit(f"the model has inputs {inputs}: give --calib NAME=FILE.npy for each")
        arrays[name] = np.load(path)
    missing = [i for i in inputs if i not in arrays]
    if missing:
        raise SystemExit(f"no calibration data for inputs {missing}")
    return arrays


def has_external_data(model_path):
    m = onnx.load(model_path, load_external_data=False)
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer)


def ort_quantize(model_path, out_path, arrays, method="minmax", percentile=99.999, per_channel=True,
                 fmt="qdq", batch=8, reader=None):
    """`arrays` are fed in batches of `batch` rows, unless `reader` (a CalibrationDataReader) is given."""
    with tempfile.TemporaryDirectory() as tmp:
        pre = os.path.join(tmp, "pre.onnx")
        # Its optimization step works on a copy in a temporary folder, where the external data
        # files of a model are missing: skip that step for such models (shape inference stays).
        quant_pre_process(model_path, pre, skip_symbolic_shape=True, skip_optimization=has_external_data(model_path))
        extra = {}
        if method == "percentile":
            extra["CalibPercentile"] = percentile
        quantize_static(
            pre,
            out_path,
            reader if reader is not None else NpyReader(arrays, batch),
            quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
            per_channel=per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax if method == "minmax" else CalibrationMethod.Percentile,
            extra_options=extra,
        )


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("out")
    p.add_argument("--calib", action="append", required=True, help="NAME=FILE.npy (or FILE.npy for a single input)")
    p.add_argument("--method", choices=["minmax", "percentile"], default="minmax")
    p.add_argument("--percentile", type=float, default=99.999)
    p.add_argument("--per-tensor", action="store_true")
    p.add_argument("--format", choices=["qdq", "qoperator"], default="qdq")
    p.add_argument("--batch", type=int, default=8)
    a = p.parse_args()
    arrays = read_calibration(a.model, a.calib)
    ort_quantize(a.model, a.out, arrays, a.method, a.percentile, not a.per_tensor, a.format, a.batch)
    print(f"{a.out}: {os.path.getsize(a.out)} bytes ({os.path.getsize(a.out) / os.path.getsize(a.model):.3f}x)", file=sys.stderr)


if __name__ == "__main__":
    main()
