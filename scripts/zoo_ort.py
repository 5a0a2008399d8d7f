"""The onnxruntime (Python) half of `npm run zoo` (scripts/zoo.mjs drives it, one step per call).

    python scripts/zoo_ort.py run MODEL FEEDS OUT [--optimize]
    python scripts/zoo_ort.py quantize MODEL CALIB OUTDIR
    python scripts/zoo_ort.py evaluate FLOAT FEEDS --output NAME --metric top1|cosine --json OUT EXPORT...

A feed directory holds one subdirectory per run, set0/, set1/, ... with NAME.npy per model input
(zoo.mjs writes them from the cache of scripts/zoo_fetch.py, so both runtimes see the same bytes).

run       runs MODEL on every feed set and writes each output to OUT/setK/NAME.npy ('/', ':' and
          '\\' in names become '_', as `webptq run` writes them). Graph optimizations are off
          unless --optimize: the float reference is onnxruntime's plain kernels.
quantize  onnxruntime's static quantization (scripts/ort_quantize.py: per-channel int8 weights,
          uint8 activations, QDQ) with MinMax and with Percentile calibration, on the feed sets of
          CALIB (the rows webptq calibrates on), into OUTDIR/ort-minmax.onnx and ort-percentile.onnx.
evaluate  runs FLOAT and each EXPORT (default optimizations, so onnxruntime's fused int8 kernels)
          on the feed sets, joins output NAME along axis 0, and writes per export: SQNR (dB) and
          top-1 agreement or mean cosine against the float output (scripts/compare_ort.py's
          metrics), size ratio, and whether onnxruntime ran it (else its error).

Every step prints one JSON line too, and an exception becomes {"error": ...}, never a traceback
that stops the zoo.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader

sys.path.insert(0, os.path.dirname(__file__))
from compare_ort import metrics  # noqa: E402
from ort_quantize import ort_quantize  # noqa: E402


def feed_sets(feeds_dir):
    """[{input name: array}] for FEEDS/set0, set1, ... in order."""
    sets = sorted((p for p in Path(feeds_dir).iterdir() if p.name.startswith("set")), key=lambda p: int(p.name[3:]))
    return [{f.stem: np.load(f) for f in sorted(s.glob("*.npy"))} for s in sets]


def session(path, optimize):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def safe(name):
    return name.replace("/", "_").replace(":", "_").replace("\\", "_")


def error_text(e):
    return f"{type(e).__name__}: {str(e).strip().splitlines()[0][:400] if str(e).strip() else ''}"


def cmd_run(a):
    s = session(a.model, a.optimize)
    names = [o.name for o in s.get_outputs()]
    t0 = time.perf_counter()
    for k, feeds in enumerate(feed_sets(a.feeds)):
        out = Path(a.out) / f"set{k}"
        out.mkdir(parents=True, exist_ok=True)
        for n, y in zip(names, s.run(names, feeds)):
            np.save(out / f"{safe(n)}.npy", y)
    return {"outputs": names, "ms": (time.perf_counter() - t0) * 1000}


class FeedSetReader(CalibrationDataReader):
    def __init__(self, sets):
        self.sets, self.i = sets, 0

    def get_next(self):
        if self.i >= len(self.sets):
            return None
        self.i += 1
        return self.sets[self.i - 1]

    def rewind(self):
        self.i = 0


def cmd_quantize(a):
    sets = feed_sets(a.calib)
    out = {}
    for method in ("minmax", "percentile"):
        path = Path(a.outdir) / f"ort-{method}.onnx"
        t0 = time.perf_counter()
        try:
            ort_quantize(a.model, str(path), None, method=method, reader=FeedSetReader(sets))
            out[method] = {"path": str(path), "ms": (time.perf_counter() - t0) * 1000}
        except Exception as e:  # recorded in the table: onnxruntime's quantizer refuses some graphs
            out[method] = {"error": error_text(e)}
    return out


def outputs_of(path, sets, name):
    s = session(path, True)
    names = [o.name for o in s.get_outputs()]
    pick = name if name in names else names[0]
    return np.concatenate([np.atleast_1d(s.run([pick], f)[0]) for f in sets])


def cmd_evaluate(a):
    sets = feed_sets(a.feeds)
    ref = outputs_of(a.float, sets, a.output).astype(np.float64)
    float_bytes = model_bytes(a.float)
    rows = {}
    for path in a.exports:
        row = {"bytes": model_bytes(path)}
        row["size_ratio"] = row["bytes"] / float_bytes
        try:
            y = outputs_of(path, sets, a.output)
            if y.shape != ref.shape:
                raise ValueError(f"output shape {list(y.shape)} differs from the float model's {list(ref.shape)}")
            row.update(metrics(ref, y, a.metric))
            row["ort_python"] = "ok"
        except Exception as e:
            row["ort_python"] = "error"
            row["error"] = error_text(e)
        rows[path] = row
    return {"float_bytes": float_bytes, "exports": rows}


def model_bytes(path):
    """The file's size plus its external data files (names that start with the model's name)."""
    p = Path(path)
    return sum(f.stat().st_size for f in p.parent.iterdir() if f == p or (f.name.startswith(p.name) and f.name != p.name))


def finite(x):
    """JSON has no inf or nan: they become the strings "inf", "-inf", "nan" (zoo.mjs reads them)."""
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [finite(v) for v in x]
    if isinstance(x, float) and not np.isfinite(x):
        return "nan" if np.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("model"), r.add_argument("feeds"), r.add_argument("out")
    r.add_argument("--optimize", action="store_true")
    q = sub.add_parser("quantize")
    q.add_argument("model"), q.add_argument("calib"), q.add_argument("outdir")
    e = sub.add_parser("evaluate")
    e.add_argument("float"), e.add_argument("feeds")
    e.add_argument("--output", default="")
    e.add_argument("--metric", choices=["top1", "cosine"], default="cosine")
    e.add_argument("--json", required=True)
    e.add_argument("exports", nargs="*")
    a = ap.parse_args()
    try:
        res = {"run": cmd_run, "quantize": cmd_quantize, "evaluate": cmd_evaluate}[a.cmd](a)
    except Exception as ex:
        res = {"error": error_text(ex)}
    text = json.dumps(finite(res))
    if getattr(a, "json", None):
        Path(a.json).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
