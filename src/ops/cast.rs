//! Ops that pass data through or change only its element type: Cast, CastLike, Identity and
//! Dropout (inference only).
//!
//! Conversions follow numpy's `astype`, which onnx's reference uses: float to integer truncates
//! toward zero (saturating here where numpy's result is undefined), integer to integer wraps,
//! anything to bool is `!= 0` (NaN is true), and float to float16 rounds to nearest even.
//! [`cast`] is usable by other op families. Types this engine cannot store (bfloat16, float8,
//! int4, string) are reported as type errors when the node is built or the model is loaded.
use super::elementwise::map_elems;
use super::registry::{optional, required, BuildContext, FnOp, Op, Registry};
use super::wide::{self, Wide};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};
use half::f16;
use ndarray::ArrayD;

pub fn register(r: &mut Registry) {
    r.register("", "Cast", build_cast);
    r.register("", "CastLike", |_| {
        Ok(Box::new(FnOp(|inputs: &[Option<&Tensor>]| {
            let like = required(inputs, 1, "target_type")?;
            Ok(vec![cast(required(inputs, 0, "input")?, like.dtype())?])
        })))
    });
    // Identity keeps its input's buffer when the runtime can move it in (shape.rs `Relabel`).
    r.register("", "Identity", |_| Ok(Box::new(super::shape::Relabel(|x: &[usize], _: &[Option<&Tensor>]| Ok(x.to_vec()))))).moves_8bit();
    r.register("", "Dropout", build_dropout);
}

/// `t` converted to `to` (a copy when the type already matches), with `astype` semantics.
///
/// Through the wide path (src/ops/wide.rs): the source is read as f64 (floats) or i128
/// (integers, bool), both exact, and written in the target type, so the loops are one reader per
/// source type and one writer per target type and class instead of one per (source, target)
/// pair. `as` from the exact wide value is `as` from the narrow one: float-to-integer truncates
/// and saturates the same value, integer truncation keeps the same low bits, and integer-to-float
/// rounds the exact integer once (to float16 through f64, as before: one rounding below 2^53 and
/// infinity above 65504 either way). `!= 0` is unchanged.
pub(crate) fn cast(t: &Tensor, to: DType) -> Result<Tensor> {
    if t.dtype() == to {
        return Ok(t.clone());
    }
    // Conversions to float32 that models run on whole activations (an int64 or bool attention
    // mask expanded to [batch, tokens, hidden] in MiniLM's pooling, uint8 images) skip the
    // wide copy: one loop per source, `as` from the value itself (one rounding).
    if to == DType::F32 {
        let direct = match t {
            Tensor::I64(a) => Some(map_elems(a, |v| v as f32)?),
            Tensor::I32(a) => Some(map_elems(a, |v| v as f32)?),
            Tensor::U8(a) => Some(map_elems(a, f32::from)?),
            Tensor::Bool(a) => Some(map_elems(a, |v| if v { 1.0 } else { 0.0 })?),
            Tensor::F16(a) => Some(map_elems(a, f16::to_f32)?),
            _ => None,
        };
        if let Some(y) = direct {
            return Ok(Tensor::F32(y));
        }
    }
    let shape = t.shape();
    match (wide::values(t), to.is_float()) {
        (Wide::F(v), true) => wide::from_floats(to, shape, v),
        (Wide::I(v), false) => wide::from_ints(to, shape, v),
        (Wide::F(v), false) => wide::from_ints(to, shape, v.into_iter().map(|x| wide::int_from_f64(to, x)).collect()),
        (Wide::I(v), true) => wide::floats_from_ints(to, shape, v),
    }
}

fn build_cast(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let code = ctx.attrs().int("to")?.ok_or_else(|| Error::invalid("Cast needs the 'to' attribute"))?;
    let to = i32::try_from(code)
        .map_err(|_| Error::invalid(format!("Cast: 'to' = {code} is not a tensor type")))
        .and_then(DType::from_onnx_code)?;
    // `saturate` (opset 19+) only affects float8 targets, which are not supported.
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| Ok(vec![cast(required(inputs, 0, "input")?, to)?]))))
}

/// Dropout at inference: the output is the input; the optional mask is all ones (true).
/// Training mode with a non-zero ratio would need random numbers and is refused.
fn build_dropout(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let opset = ctx.opset;
    let want_mask = ctx.node.output(1).is_some();
    let attr_ratio = ctx.attrs().float_or("ratio", 0.5)?;
    if opset < 7 && ctx.attrs().int_or("is_test", 0)? == 0 {
        return Err(Error::invalid("Dropout with is_test=0 (training) is not supported"));
    }
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "data")?;
        if opset >= 12 {
            let training = match optional(inputs, 2) {
                Some(Tensor::Bool(t)) => t.iter().next().copied().unwrap_or(false),
                Some(other) => return Err(Error::dtype(format!("training_mode must be bool, got {}", other.dtype()))),
                None => false,
            };
            let ratio = match optional(inputs, 1) {
                Some(r) => r.to_f32_vec().first().copied().unwrap_or(attr_ratio),
                None => attr_ratio,
            };
            if training && ratio != 0.0 {
                return Err(Error::invalid(format!(
                    "Dropout in training mode (ratio {ratio}) is not supported: inference only"
                )));
            }
        }
        let mut out = vec![x.clone()];
        if want_mask {
            // Dropout-7..9 declares the mask with the input's type; 10+ as bool.
            let ones = Tensor::from(ArrayD::from_elem(x.shape(), true));
            out.push(if opset < 10 { cast(&ones, x.dtype())? } else { ones });
        }
        Ok(out)
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Narrow sources go through their wide type; the result must be `as` from the narrow value
    /// itself (float16 targets: one rounding of the exact value; bool: `!= 0`).
    #[test]
    fn widened_sources_cast_like_direct_as() {
        macro_rules! check_from {
            ($s:ty, $vals:expr, $to_f64:expr) => {{
                let vals: Vec<$s> = $vals;
                let n = vals.len();
                let src = Tensor::from_vec(&[n], vals.clone()).unwrap();
                macro_rules! to {
                    ($t:ty, $d:expr) => {
                        let want = Tensor::from_vec(&[n], vals.iter().map(|&v| v as $t).collect::<Vec<$t>>()).unwrap();
                        assert_eq!(cast(&src, $d).unwrap(), want, "{} -> {}", src.dtype(), $d);
                    };
                }
                to!(f32, DType::F32);
                to!(f64, DType::F64);
                to!(i8, DType::I8);
                to!(u8, DType::U8);
                to!(i16, DType::I16);
                to!(u16, DType::U16);
                to!(i32, DType::I32);
                to!(u32, DType::U32);
                to!(i64, DType::I64);
                to!(u64, DType::U64);
                let halves: Vec<f16> = vals.iter().map(|&v| f16::from_f64(($to_f64)(v))).collect();
                if src.dtype() != DType::F16 {
                    assert_eq!(cast(&src, DType::F16).unwrap(), Tensor::from_vec(&[n], halves).unwrap(), "{} -> float16", src.dtype());
                }
                let truth: Vec<bool> = vals.iter().map(|&v| ($to_f64)(v) != 0.0).collect();
                assert_eq!(cast(&src, DType::Bool).unwrap(), Tensor::from_vec(&[n], truth).unwrap(), "{} -> bool", src.dtype());
            }};
        }
        check_from!(i8, (i8::MIN..=i8::MAX).collect(), |v: i8| v as f64);
        check_from!(u8, (u8::MIN..=u8::MAX).collect(), |v: u8| v as f64);
        check_from!(i16, (i16::MIN..=i16::MAX).step_by(101).chain([i16::MAX, -1]).collect(), |v: i16| v as f64);
        check_from!(u16, (0..=u16::MAX).step_by(101).chain([u16::MAX]).collect(), |v: u16| v as f64);
        check_from!(i32, vec![i32::MIN, -16_777_217, -65_505, -129, -1, 0, 1, 127, 128, 255, 256, 65_504, 65_520, 16_777_217, i32::MAX], |v: i32| v as f64);
        check_from!(u32, vec![0, 1, 127, 128, 255, 256, 65_535, 65_536, 16_777_217, u32::MAX], |v: u32| v as f64);
        // float16 and bool sources: the reference is `as` from the exact value (f16 → f32 is exact).
        let halves: Vec<f16> = (0..0x7c01u16).step_by(13).flat_map(|b| [f16::from_bits(b), f16::from_bits(b | 0x8000)]).collect();
        let h = Tensor::from_vec(&[halves.len()], halves.clone()).unwrap();
        let as_f32: Vec<f32> = halves.iter().map(|v| v.to_f32()).collect();
        let f = Tensor::from_vec(&[as_f32.len()], as_f32).unwrap();
        for to in [DType::F32, DType::F64, DType::I8, DType::U8, DType::I16, DType::U16, DType::I32, DType::U32, DType::I64, DType::U64, DType::Bool] {
            assert_eq!(cast(&h, to).unwrap(), cast(&f, to).unwrap(), "float16 -> {to}");
        }
        let b = Tensor::from_vec(&[2], vec![false, true]).unwrap();
        for to in [DType::F32, DType::F64, DType::F16, DType::I8, DType::U8, DType::I16, DType::U16, DType::I32, DType::U32, DType::I64, DType::U64] {
            assert_eq!(cast(&b, to).unwrap(), cast(&Tensor::from_vec(&[2], vec![0f32, 1.0]).unwrap(), to).unwrap(), "bool -> {to}");
        }
    }

    /// The wide sources (float32, float64, int64, uint64): `as` from the value itself, large
    /// integers to float32 included (one rounding, not two through f64).
    #[test]
    fn wide_sources_cast_like_direct_as() {
        macro_rules! check_from {
            ($s:ty, $vals:expr) => {{
                let vals: Vec<$s> = $vals;
                let n = vals.len();
                let src = Tensor::from_vec(&[n], vals.clone()).unwrap();
                macro_rules! to {
                    ($t:ty, $d:expr) => {
                        let want = Tensor::from_vec(&[n], vals.iter().map(|&v| v as $t).collect::<Vec<$t>>()).unwrap();
                        assert_eq!(cast(&src, $d).unwrap(), want, "{} -> {}", src.dtype(), $d);
                    };
                }
                to!(f32, DType::F32);
                to!(f64, DType::F64);
                to!(i8, DType::I8);
                to!(u8, DType::U8);
                to!(i16, DType::I16);
                to!(u16, DType::U16);
                to!(i32, DType::I32);
                to!(u32, DType::U32);
                to!(i64, DType::I64);
                to!(u64, DType::U64);
                let halves: Vec<f16> = vals.iter().map(|&v| f16::from_f64(v as f64)).collect();
                assert_eq!(cast(&src, DType::F16).unwrap(), Tensor::from_vec(&[n], halves).unwrap(), "{} -> float16", src.dtype());
                let truth: Vec<bool> = vals.iter().map(|&v| v as f64 != 0.0).collect();
                assert_eq!(cast(&src, DType::Bool).unwrap(), Tensor::from_vec(&[n], truth).unwrap(), "{} -> bool", src.dtype());
            }};
        }
        // 2^53 + 1 and (2^24 + 1) * 2^29 + 1 round differently to f32 directly and through f64.
        let big = [(1i64 << 53) + 1, ((1i64 << 24) + 1) * (1 << 29) + 1, i64::MAX, i64::MIN, -(1 << 40) - 3];
        check_from!(i64, big.iter().copied().chain([-1, 0, 1, 255, 65_504, 65_520]).collect());
        check_from!(u64, big.iter().map(|&v| v as u64).chain([0, 1, u64::MAX, 1 << 63]).collect());
        check_from!(f32, vec![-2.7, -0.5, -0.0, 0.5, 300.0, 1e10, -1e10, 3e38, f32::INFINITY, f32::NEG_INFINITY, 65_519.0, 65_520.0, 1e-8]);
        check_from!(f64, vec![-2.7, -0.5, -0.0, 0.5, 300.0, 1e10, -1e300, 1e300, f64::INFINITY, 1e-40, 65_519.99, 2.0f64.powi(63)]);
    }

    #[test]
    fn casts_follow_astype() {
        let f = Tensor::from_vec(&[6], vec![-2.7f32, -0.5, 0.0, 0.5, 300.0, f32::NAN]).unwrap();
        assert_eq!(cast(&f, DType::I32).unwrap().to_i64_vec().unwrap(), vec![-2, 0, 0, 0, 300, 0]);
        assert_eq!(cast(&f, DType::Bool).unwrap(), Tensor::from_vec(&[6], vec![true, true, false, true, true, true]).unwrap());
        let i = Tensor::from_vec(&[3], vec![300i64, -1, 128]).unwrap();
        assert_eq!(cast(&i, DType::I8).unwrap().to_i64_vec().unwrap(), vec![44, -1, -128]);
        assert_eq!(cast(&i, DType::U8).unwrap().to_i64_vec().unwrap(), vec![44, 255, 128]);
        let h = cast(&Tensor::from_vec(&[2], vec![0.1f32, 65520.0]).unwrap(), DType::F16).unwrap();
        assert_eq!(h.to_f32_vec(), vec![f16::from_f32(0.1).to_f32(), f32::INFINITY]);
        let b = Tensor::from_vec(&[2], vec![true, false]).unwrap();
        assert_eq!(cast(&b, DType::F64).unwrap().to_f32_vec(), vec![1.0, 0.0]);
    }
}
