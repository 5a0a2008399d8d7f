//! The kernels' self-tests and micro-benchmarks for JS (`kernelSelfTest`, `qmiscSelfTest`,
//! `benchKernel`, `WasmQBench`): only in the test/benchmark builds (feature `checks`,
//! `pkg/*-checks/`), never in the shipped ones.
use super::{js_error, now_ms, to_js};
use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

fn kernel_error(e: crate::kernels::error::Error) -> JsValue {
    js_error(e.into())
}

/// The kernel micro-benchmark (`kernels::bench`): `benchKernel(name, m, n, k, iters)` times
/// `iters` products of `m` channels x `n` positions x depth `k` with the named kernel ("sgemm",
/// "qgemm", "qgemm_i32" or an int8 micro-kernel name) and returns `{ kernel, seconds, gops }`.
#[wasm_bindgen(js_name = benchKernel)]
pub fn bench_kernel(name: &str, m: u32, n: u32, k: u32, iters: u32) -> Result<JsValue, JsValue> {
    let r = crate::kernels::bench::bench_kernel(name, m as usize, n as usize, k as usize, iters as usize, &mut now_ms)
        .map_err(kernel_error)?;
    to_js(&r)
}

/// Runs the kernels' shared self-test (`kernels::selftest`) on every kernel of this build:
/// returns `{ qgemm: products checked, sgemm: products checked }` or throws the first mismatch.
#[wasm_bindgen(js_name = kernelSelfTest)]
pub fn kernel_self_test() -> Result<JsValue, JsValue> {
    let q = crate::kernels::selftest::qgemm_selftest().map_err(kernel_error)?;
    let s = crate::kernels::selftest::sgemm_selftest().map_err(kernel_error)?;
    let o = Object::new();
    Reflect::set(&o, &"qgemm".into(), &(q as f64).into())?;
    Reflect::set(&o, &"sgemm".into(), &(s as f64).into())?;
    Ok(o.into())
}

/// Runs the 8-bit kernels of this build (SIMD128 in the wasm builds) against their scalar
/// oracles (`kernels::qcheck`): returns `{ simd128, kernels, cases }`, throws on a mismatch.
#[wasm_bindgen(js_name = qmiscSelfTest)]
pub fn qmisc_self_test() -> Result<JsValue, JsValue> {
    to_js(&crate::kernels::qcheck::run().map_err(kernel_error)?)
}

/// One depthwise-conv layer for benchmarks (`kernels::qbench`): `new(int8, channels, size, k,
/// stride)`, then `run(reps)` timed by the caller.
#[wasm_bindgen]
pub struct WasmQBench {
    inner: crate::kernels::qbench::DwBench,
}

#[wasm_bindgen]
impl WasmQBench {
    #[wasm_bindgen(constructor)]
    pub fn new(int8: bool, channels: usize, size: usize, k: usize, stride: usize) -> Result<WasmQBench, JsValue> {
        Ok(WasmQBench { inner: crate::kernels::qbench::DwBench::new(int8, channels, size, k, stride).map_err(kernel_error)? })
    }

    pub fn run(&mut self, reps: usize) -> Result<(), JsValue> {
        self.inner.run(reps).map_err(kernel_error)
    }
}
