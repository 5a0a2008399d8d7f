"""Checks the exports of tests/quantize_modes.rs in onnxruntime (Python, CPU provider).

For every `NAME.onnx` in the export folder (default: target/tmp/quantize-modes) this loads the
model in onnxruntime and runs it. MiniLM exports run the reference sentences and print one table
row: file size ratio to the float model, mean/min cosine of the embeddings to the float
embeddings, and the agreement with our runtime's embeddings (`NAME.461.npy`, written by the Rust
test). Built graphs (`NAME.in.npy` next to them) run that input and are compared with our output
(`NAME.out.npy`). With
`--baseline` it also runs onnxruntime's own quantizers on the same model, for comparison:
quantize_dynamic (per channel and per tensor, int8 weights) and MatMulNBitsQuantizer (4 bits,
block 32, asymmetric and symmetric). Exits non-zero if a model fails to load or run.

    .venv/bin/python tests/python/quantize_modes_ort.py [--dir DIR] [--fixtures DIR] [--baseline]
"""
import argparse
import os
import sys
import tempfile

import numpy as np
import onnxruntime as ort


def cosines(a, b):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    c = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return c.mean(), c.min()


def _graph_nodes(path):
    import onnx

    return onnx.load(path).graph.node


def run(path, feeds):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    s = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    return s.run(["461"], feeds)[0]


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = argparse.ArgumentParser()
    p.add_argument("--dir", default=os.path.join(root, "target", "tmp", "quantize-modes"))
    p.add_argument("--fixtures", default=os.environ.get("WEBPTQ_FIXTURES", os.path.join(root, ".cache", "fixtures")))
    p.add_argument("--baseline", action="store_true")
    args = p.parse_args()

    float_path = os.path.join(args.fixtures, "models", "paraphrase-MiniLM-L3-v2.onnx")
    ref = os.path.join(args.fixtures, "ref", "paraphrase-MiniLM-L3-v2")
    feeds = {k: np.load(os.path.join(ref, k + ".npy")) for k in ("input_ids", "attention_mask")}
    float_size = os.path.getsize(float_path)
    reference = run(float_path, feeds)

    rows = []
    built = []
    failed = False
    for name in sorted(f[:-5] for f in os.listdir(args.dir) if f.endswith(".onnx")):
        path = os.path.join(args.dir, name + ".onnx")
        in_path = os.path.join(args.dir, name + ".in.npy")
        if os.path.exists(in_path):
            # A built graph: one input, our output next to it.
            try:
                s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
                out = s.run(None, {s.get_inputs()[0].name: np.load(in_path)})[0]
            except Exception as e:  # noqa: BLE001
                print(f"{name}: onnxruntime failed: {e}", file=sys.stderr)
                failed = True
                continue
            ours = np.load(os.path.join(args.dir, name + ".out.npy"))
            diff = np.abs(out - ours).max() / max(np.abs(ours).max(), 1e-30)
            top1 = ""
            if out.ndim == 2 and out.shape[1] > 1:
                top1 = f"{int((out.argmax(1) == ours.argmax(1)).sum())}/{out.shape[0]}"
            built.append((name, diff, top1, sorted({n.op_type for n in _graph_nodes(path)})))
            continue
        try:
            out = run(path, feeds)
        except Exception as e:  # noqa: BLE001 - report every failure, keep going
            print(f"{name}: onnxruntime failed: {e}", file=sys.stderr)
            failed = True
            continue
        mean, mn = cosines(out, reference)
        ours_path = os.path.join(args.dir, name + ".461.npy")
        agree = ""
        if os.path.exists(ours_path):
            ours = np.load(ours_path)
            om, _ = cosines(ours, out)
            agree = f"{om:.6f} (max |diff| {np.abs(ours - out).max():.2e})"
        rows.append((name, os.path.getsize(path) / float_size, mean, mn, agree))

    if args.baseline:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with tempfile.TemporaryDirectory() as tmp:
            for per_channel in (True, False):
                out_path = os.path.join(tmp, "q.onnx")
                quantize_dynamic(float_path, out_path, per_channel=per_channel, weight_type=QuantType.QInt8)
                mean, mn = cosines(run(out_path, feeds), reference)
                name = "onnxruntime quantize_dynamic " + ("per-channel" if per_channel else "per-tensor")
                rows.append((name, os.path.getsize(out_path) / float_size, mean, mn, ""))
            import onnx

            try:
                from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
            except ImportError as e:  # it needs the onnx_ir package, not in requirements.txt
                print(f"skipping the MatMulNBits baseline: {e}", file=sys.stderr)
                MatMulNBitsQuantizer = None
            for symmetric in (False, True) if MatMulNBitsQuantizer else ():
                out_path = os.path.join(tmp, "q4.onnx")
                q = MatMulNBitsQuantizer(onnx.load(float_path), block_size=32, is_symmetric=symmetric)
                q.process()
                q.model.save_model_to_file(out_path)
                mean, mn = cosines(run(out_path, feeds), reference)
                name = "onnxruntime MatMulNBits 4-bit b32 " + ("sym" if symmetric else "asym")
                rows.append((name, os.path.getsize(out_path) / float_size, mean, mn, ""))

    print(f"onnxruntime {ort.__version__}, MiniLM-L3 float file {float_size} bytes, 16 sentences")
    print(f"| {'model':<44} | size ratio | cosine mean | cosine min | ours vs onnxruntime (cosine) |")
    print(f"|{'-' * 46}|-----------:|------------:|-----------:|------------------------------|")
    for name, ratio, mean, mn, agree in rows:
        print(f"| {name:<44} | {ratio:10.3f} | {mean:11.5f} | {mn:10.5f} | {agree} |")
    if built:
        print()
        print("| built graph / CNN | max abs(ours - onnxruntime) / max abs(ours) | same top-1 | ops |")
        print("|---|---:|---:|---|")
        for name, diff, top1, op_types in built:
            print(f"| {name} | {diff:.2e} | {top1} | {' '.join(op_types)} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
