"""The onnxruntime half of `npm run compare:ort` (scripts/compare_ort.mjs drives it).

Reads target/compare/manifest.json, written by the Node side after it made webptq's exports:

    {"models": [{"id", "float", "inputs": {name: npy}, "calib_rows", "batch", "output", "metric",
                 "exports": [{"tag", "tool", "path"}]}]}

For every model it
1. makes onnxruntime's own exports of the same float model with the same calibration rows
   (scripts/ort_quantize.py: quantize_static MinMax and Percentile, per-channel, QDQ; and
   quantize_dynamic per-channel), adding them to the manifest;
2. runs the float model and every export (webptq's and onnxruntime's) in onnxruntime (CPU) on the
   evaluation rows (all rows of the inputs) and measures, against the float outputs: SQNR (dB),
   top-1 agreement (classifiers) or mean cosine similarity (embedders), and the size ratio;
3. saves each export's outputs (for the onnxruntime-web check on the Node side) and writes
   target/compare/python.json.

A file that fails to load or run is recorded with its error, not skipped silently.
"""
import json
import os
import sys
import traceback

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic

sys.path.insert(0, os.path.dirname(__file__))
from ort_quantize import ort_quantize  # noqa: E402

OUT = os.path.join("target", "compare")


def run(path, feeds, output):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    return s.run([output if output in names else names[-1]], feeds)[0]


def metrics(ref, y, kind):
    ref = ref.astype(np.float64)
    y = y.astype(np.float64)
    noise = np.sum((ref - y) ** 2)
    sqnr = float("inf") if noise == 0 else float(10 * np.log10(np.sum(ref ** 2) / noise))
    m = {"sqnr_db": sqnr, "max_abs_err": float(np.max(np.abs(ref - y)))}
    if kind == "top1":
        m["top1_agreement"] = float(np.mean(ref.reshape(len(ref), -1).argmax(1) == y.reshape(len(y), -1).argmax(1)))
    else:
        a, b = ref.reshape(len(ref), -1), y.reshape(len(y), -1)
        cos = np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        m["mean_cosine"] = float(np.mean(cos))
        m["min_cosine"] = float(np.min(cos))
    return m


def main():
    manifest = json.load(open(os.path.join(OUT, "manifest.json")))
    results = {"onnxruntime": ort.__version__, "models": []}
    for model in manifest["models"]:
        arrays = {k: np.load(p) for k, p in model["inputs"].items()}
        calib = {k: a[: model["calib_rows"]] for k, a in arrays.items()}
        mid = model["id"]
        for tag, method in [("ort-static-minmax", "minmax"), ("ort-static-percentile", "percentile")]:
            path = os.path.join(OUT, f"{mid}-{tag}.onnx")
            ort_quantize(model["float"], path, calib, method=method, batch=model["batch"])
            model["exports"].append({"tag": tag, "tool": "onnxruntime", "path": path})
        path = os.path.join(OUT, f"{mid}-ort-dynamic.onnx")
        try:
            quantize_dynamic(model["float"], path, per_channel=True, weight_type=QuantType.QInt8)
            model["exports"].append({"tag": "ort-dynamic", "tool": "onnxruntime", "path": path})
        except Exception as e:  # recorded: onnxruntime's dynamic quantizer refuses some graphs
            model.setdefault("notes", []).append(f"onnxruntime quantize_dynamic failed: {e}")

        ref = run(model["float"], arrays, model["output"])
        float_bytes = os.path.getsize(model["float"])
        rows = []
        for ex in model["exports"]:
            row = {"tag": ex["tag"], "tool": ex["tool"], "path": ex["path"], "bytes": os.path.getsize(ex["path"])}
            row["size_ratio"] = row["bytes"] / float_bytes
            try:
                y = run(ex["path"], arrays, model["output"])
                row.update(metrics(ref, y, model["metric"]))
                row["ort_python"] = "ok"
                out = ex["path"][:-5] + ".ort-out.npy"
                np.save(out, y.astype(np.float32))
                row["ort_output"] = out
            except Exception as e:
                row["ort_python"] = f"error: {e}"
                traceback.print_exc()
            rows.append(row)
        np.save(os.path.join(OUT, f"{mid}-float.ort-out.npy"), ref.astype(np.float32))
        results["models"].append({**{k: model[k] for k in ("id", "float", "output", "metric", "calib_rows")},
                                  "eval_rows": int(len(next(iter(arrays.values())))), "float_bytes": float_bytes,
                                  "notes": model.get("notes", []), "exports": rows})
    json.dump(results, open(os.path.join(OUT, "python.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
