#!/usr/bin/env python3
"""Groups the code of a wasm build with names by module/family (docs/size.md).

Usage: python3 scripts/size-breakdown.py [WASM] [--top N]
WASM defaults to cargo's simd128 output (before wasm-bindgen, so it keeps its function names):
target/wasm-simd128/wasm32-unknown-unknown/wasm/webptq.wasm (build it with scripts/build.sh).
Needs `twiggy` (cargo install twiggy). Sizes are twiggy's shallow sizes: a function's own code,
with what was inlined into it. Sections that wasm-bindgen removes (names, its custom section)
are listed apart.
"""
import csv
import io
import re
import subprocess
import sys
from collections import defaultdict

args = [a for a in sys.argv[1:] if not a.startswith("--")]
top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 40
if "--top" in sys.argv:
    args = [a for a in args if a != str(top)]
wasm = args[0] if args else "target/wasm-simd128/wasm32-unknown-unknown/wasm/webptq.wasm"
out = subprocess.run(["twiggy", "top", "-n", "1000000", "--format", "csv", wasm], check=True, capture_output=True, text=True).stdout
rows = list(csv.DictReader(io.StringIO(out)))

# Generic closures and trait methods whose body is one op's, but whose name does not say which.
RULES = [
    (r"function names|__wasm_bindgen_unstable|^custom section|producers|target_features", "(removed by wasm-bindgen / build.sh)"),
    (r'^data segment', "data (strings, tables)"),
    (r"FnOp<F> as webptq::ops::registry::Op>::run", "op closures (FnOp::run, bodies inlined)"),
    (r"Relabel<F> as webptq::ops::registry::Op>", "op closures (Relabel, Reshape family)"),
    (r"^webptq_kernels::", None),  # by module below
    (r"^<?webptq::", None),
    (r"^<(alloc::vec::Vec<T> as alloc::vec::spec_from_iter|core::iter::adapters|alloc::vec::into_iter)", "iterator / collect copies (one per closure)"),
    (r"ndarray", "ndarray generic code"),
    (r"prost|webptq::onnx::proto", "protobuf (prost)"),
    (r"serde", "serde / serde_json"),
    (r"^<?(alloc|core|std)\b|^<?\[|^<?&|^<?\(|^__|^<?hashbrown|^<?dlmalloc|^memcpy|^memset|^memmove", "std / core / alloc"),
    (r"wasm_bindgen|js_sys|^__wbg|^__wbindgen", "wasm-bindgen glue"),
    (r"half::", "half (f16)"),
]


def family(name):
    for pat, fam in RULES:
        if re.search(pat, name):
            if fam is not None:
                return fam
            m = re.search(r"(webptq(?:_kernels)?)::([a-z_0-9]+)(?:::([a-z_0-9]+))?", name)
            if not m:
                continue
            crate, mod, sub = m.groups()
            if crate == "webptq" and mod in ("ops", "graph", "quantize", "runtime", "onnx", "tensor", "calibrate", "bindings") and sub:
                if mod == "graph" and sub == "passes":
                    m2 = re.search(r"webptq::graph::passes::([a-z_0-9]+)", name)
                    return f"webptq::graph::passes::{m2.group(1)}" if m2 else "webptq::graph::passes"
                return f"{crate}::{mod}::{sub}"
            return f"{crate}::{mod}"
    if re.match(r"^(code|func)\[\d+\]", name):
        return "unnamed functions"
    return "other"


sizes = defaultdict(int)
counts = defaultdict(int)
total = 0
for r in rows:
    name = r["Name"]
    if name.startswith("... and") or name.startswith("Σ"):
        continue
    size = int(r["ShallowSize"])
    fam = family(name)
    sizes[fam] += size
    counts[fam] += 1
    total += size
removed = sizes.get("(removed by wasm-bindgen / build.sh)", 0)
print(f"{wasm}: {total:,} bytes, {total - removed:,} without the sections wasm-bindgen removes")
print()
print("| module / family | bytes | items |")
print("|---|---:|---:|")
for fam, size in sorted(sizes.items(), key=lambda kv: -kv[1])[:top]:
    print(f"| {fam} | {size:,} | {counts[fam]} |")
