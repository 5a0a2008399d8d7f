//! The crate's top-level modules form layers that only point down: no module reaches a module that
//! reaches back (no import cycle), and each module uses only what `LAYERS` below allows. Read from
//! the sources: every `crate::module` path (in `use` lines and inline paths, comments excluded)
//! in `src/<module>/**.rs` or `src/<module>.rs` is an edge `<module> -> module`. The module map in
//! docs/architecture.md is this table; a new edge is a design decision: add it here and there.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module (with `kernels` / `quant_math`, the kernel crate re-exported by lib.rs)
/// and the modules it may use. Lower layers first.
const LAYERS: &[(&str, &[&str])] = &[
    ("kernels", &[]),
    ("quant_math", &[]),
    ("error", &[]),
    ("tensor", &["error", "kernels", "quant_math"]),
    ("proto", &[]),
    ("graph", &["error", "tensor", "proto"]),
    ("onnx", &["error", "tensor", "graph", "proto"]),
    ("ops", &["error", "tensor", "graph", "onnx", "proto", "kernels", "quant_math"]),
    ("passes", &["error", "tensor", "graph", "onnx", "ops", "quant_math"]),
    ("runtime", &["error", "tensor", "graph", "onnx", "ops", "passes"]),
    ("calibrate", &["error", "tensor", "graph", "ops", "runtime"]),
    ("quantize", &["error", "tensor", "graph", "onnx", "ops", "passes", "runtime", "calibrate", "quant_math", "kernels"]),
    ("info", &["error", "graph", "ops"]),
    ("bindings", &["error", "tensor", "graph", "onnx", "ops", "runtime", "calibrate", "quantize", "info", "kernels"]),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a source file belongs to. `onnx/proto` (generated types) counts as its
/// own layer `proto`: the IR keeps a raw attribute proto, and onnx's load/save build the IR.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let mut parts = rel.iter().map(|s| s.to_string_lossy().into_owned());
    let first = parts.next()?;
    if first == "lib.rs" {
        return None;
    }
    if first == "onnx" && parts.next().as_deref() == Some("proto") {
        return Some("proto".into());
    }
    Some(first.trim_end_matches(".rs").to_string())
}

/// Lines marked with this comment are left out: the one-release re-exports at old paths.
const TRANSITIONAL: &str = "// layers: transitional re-export";

/// `crate::a` and `crate::{a, b::c}` (also across lines) → the first path segments, with
/// `crate::onnx::proto` → `proto`; macros at the crate root (`crate::bail!`) are not modules.
/// Line comments (`//`, `//!`, `///`) are skipped, and so is everything from a `#[cfg(test)]`
/// on (unit tests sit at the end of their file and may use any layer to set a case up).
fn referenced_modules(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .filter(|l| !l.contains(TRANSITIONAL))
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let take_path = |s: &str| -> String {
        let s = s.trim_start();
        let seg: String = s.chars().take_while(|&c| ident(c)).collect();
        if seg == "onnx" && s[seg.len()..].starts_with("::proto") {
            "proto".into()
        } else if s[seg.len()..].starts_with('!') {
            String::new() // a macro
        } else {
            seg
        }
    };
    let mut out = BTreeSet::new();
    let mut at = 0;
    while let Some(i) = code[at..].find("crate::") {
        let start = at + i;
        at = start + "crate::".len();
        if code[..start].chars().last().is_some_and(ident) {
            continue; // e.g. `webptq_crate::`
        }
        let rest = &code[at..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a, b::{c, d}}`: the first segment of each top-level item.
            let mut depth = 0;
            let mut item = 0;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.insert(take_path(&group[item..j]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(take_path(&group[item..j]));
                        item = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(take_path(rest));
        }
    }
    out.retain(|m| !m.is_empty() && m != "self" && m != "Error" && m != "Result" && m != "bail");
    out
}

fn edges() -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut map: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for f in files {
        let Some(from) = module_of(&src, &f) else { continue };
        let text = std::fs::read_to_string(&f).unwrap();
        for to in referenced_modules(&text) {
            // Macros exported at the crate root (`use crate::{map_lanes, with_lanes}`) are not modules.
            let is_module = to == "proto" || src.join(format!("{to}.rs")).exists() || src.join(&to).is_dir();
            if to != from && is_module {
                let rel = f.strip_prefix(&src).unwrap().display().to_string();
                map.entry(from.clone()).or_default().entry(to).or_default().push(rel);
            }
        }
    }
    map
}

#[test]
fn top_level_modules_only_point_down() {
    let allowed: BTreeMap<&str, BTreeSet<&str>> = LAYERS.iter().map(|(m, deps)| (*m, deps.iter().copied().collect())).collect();
    let mut bad = Vec::new();
    for (from, tos) in edges() {
        let Some(ok) = allowed.get(from.as_str()) else {
            bad.push(format!("module '{from}' is not in LAYERS"));
            continue;
        };
        for (to, files) in tos {
            if !ok.contains(to.as_str()) {
                bad.push(format!("{from} -> {to} (in {})", files.join(", ")));
            }
        }
    }
    assert!(bad.is_empty(), "uses that LAYERS does not allow:\n{}", bad.join("\n"));
}

#[test]
fn layers_table_has_no_cycle() {
    // Each module may use only modules listed before it: the table is a topological order.
    let mut seen = BTreeSet::new();
    for (m, deps) in LAYERS {
        for d in *deps {
            assert!(seen.contains(d), "'{m}' uses '{d}', which is not below it in LAYERS");
        }
        seen.insert(*m);
    }
}

#[test]
fn the_scanner_sees_every_form_of_path() {
    let found = referenced_modules(
        "use crate::graph::{Graph, Node};\nuse crate::{\n    ops,\n    tensor::{Tensor, DType},\n};\nlet r = crate::ops::Registry::standard();\n\
         // crate::quantize in a comment\nx.map_err(|e| crate::onnx::proto::Foo(e)); $crate::Error::x; webptq_crate::calibrate::y\n\
         crate::map_same!(t, a => a); pub use crate::runtime; // layers: transitional re-export\n\
         #[cfg(test)]\nmod tests {\n    use crate::bindings;\n}",
    );
    assert_eq!(found, ["graph", "ops", "proto", "tensor"].iter().map(|s| s.to_string()).collect());
}
