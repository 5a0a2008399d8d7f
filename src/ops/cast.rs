//! Ops that pass data through or change only its element type: Cast, CastLike, Identity and
//! Dropout (inference only).
//!
//! Conversions follow numpy's `astype`, which onnx's reference uses: float to integer truncates
//! toward zero (saturating here where numpy's result is undefined), integer to integer wraps,
//! anything to bool is `!= 0` (NaN is true), and float to float16 rounds to nearest even.
//! [`cast`] is usable by other op families. Types this engine cannot store (bfloat16, float8,
//! int4, string) are reported as type errors when the node is built or the model is loaded.
use super::registry::{optional, required, BuildContext, FnOp, Op, Registry};
use crate::error::{Error, Result};
use crate::tensor::{DType, Elem, Tensor};
use half::f16;
use ndarray::ArrayD;

pub fn register(r: &mut Registry) {
    r.register("", "Cast", build_cast);
    r.register("", "CastLike", |_| {
        Ok(Box::new(FnOp(|inputs: &[Option<&Tensor>]| {
            let like = required(inputs, 1, "target_type")?;
            Ok(vec![cast(required(inputs, 0, "input")?, like.dtype())])
        })))
    });
    r.register("", "Identity", |_| {
        Ok(Box::new(FnOp(|inputs: &[Option<&Tensor>]| Ok(vec![required(inputs, 0, "input")?.clone()]))))
    });
    r.register("", "Dropout", build_dropout);
}

/// Conversion of one element to every storable type, with `astype` semantics.
trait Convert: Copy {
    fn to_f32(self) -> f32;
    fn to_f64(self) -> f64;
    fn to_f16(self) -> f16;
    fn to_i8(self) -> i8;
    fn to_u8(self) -> u8;
    fn to_i16(self) -> i16;
    fn to_u16(self) -> u16;
    fn to_i32(self) -> i32;
    fn to_u32(self) -> u32;
    fn to_i64(self) -> i64;
    fn to_u64(self) -> u64;
    fn to_bool(self) -> bool;
}

/// Primitive numbers: `as` does the right thing for every pair (it truncates floats toward zero
/// and saturates, wraps integers).
macro_rules! convert_prim {
    ($($t:ty),*) => {$(
        impl Convert for $t {
            #[inline] fn to_f32(self) -> f32 { self as f32 }
            #[inline] fn to_f64(self) -> f64 { self as f64 }
            // Through f64: exact for every f32 and for integers below 2^53, then one rounding.
            #[inline] fn to_f16(self) -> f16 { f16::from_f64(self as f64) }
            #[inline] fn to_i8(self) -> i8 { self as i8 }
            #[inline] fn to_u8(self) -> u8 { self as u8 }
            #[inline] fn to_i16(self) -> i16 { self as i16 }
            #[inline] fn to_u16(self) -> u16 { self as u16 }
            #[inline] fn to_i32(self) -> i32 { self as i32 }
            #[inline] fn to_u32(self) -> u32 { self as u32 }
            #[inline] fn to_i64(self) -> i64 { self as i64 }
            #[inline] fn to_u64(self) -> u64 { self as u64 }
            #[inline]
            #[allow(clippy::float_cmp)]
            fn to_bool(self) -> bool { self != (0 as $t) }
        }
    )*};
}
convert_prim!(f32, f64, i8, u8, i16, u16, i32, u32, i64, u64);

/// Forwards every conversion except the identity through `$via` (exact for the source type).
macro_rules! convert_via {
    ($t:ty, $to_via:expr, $self_to:ident => $same:expr) => {
        impl Convert for $t {
            fn to_f32(self) -> f32 {
                ($to_via)(self).to_f32()
            }
            fn to_f64(self) -> f64 {
                ($to_via)(self).to_f64()
            }
            fn to_f16(self) -> f16 {
                let $self_to = self;
                $same
            }
            fn to_i8(self) -> i8 {
                ($to_via)(self).to_i8()
            }
            fn to_u8(self) -> u8 {
                ($to_via)(self).to_u8()
            }
            fn to_i16(self) -> i16 {
                ($to_via)(self).to_i16()
            }
            fn to_u16(self) -> u16 {
                ($to_via)(self).to_u16()
            }
            fn to_i32(self) -> i32 {
                ($to_via)(self).to_i32()
            }
            fn to_u32(self) -> u32 {
                ($to_via)(self).to_u32()
            }
            fn to_i64(self) -> i64 {
                ($to_via)(self).to_i64()
            }
            fn to_u64(self) -> u64 {
                ($to_via)(self).to_u64()
            }
            fn to_bool(self) -> bool {
                ($to_via)(self).to_bool()
            }
        }
    };
}
convert_via!(f16, |h: f16| h.to_f32(), h => h);
convert_via!(bool, |b: bool| b as u8, b => f16::from_f32(b as u8 as f32));

/// `t` converted to `to` (a copy when the type already matches).
pub(crate) fn cast(t: &Tensor, to: DType) -> Tensor {
    fn go<S: Elem + Convert>(a: &ArrayD<S>, to: DType) -> Tensor {
        match to {
            DType::F32 => Tensor::F32(a.mapv(S::to_f32)),
            DType::F64 => Tensor::F64(a.mapv(S::to_f64)),
            DType::F16 => Tensor::F16(a.mapv(S::to_f16)),
            DType::I8 => Tensor::I8(a.mapv(S::to_i8)),
            DType::U8 => Tensor::U8(a.mapv(S::to_u8)),
            DType::I16 => Tensor::I16(a.mapv(S::to_i16)),
            DType::U16 => Tensor::U16(a.mapv(S::to_u16)),
            DType::I32 => Tensor::I32(a.mapv(S::to_i32)),
            DType::U32 => Tensor::U32(a.mapv(S::to_u32)),
            DType::I64 => Tensor::I64(a.mapv(S::to_i64)),
            DType::U64 => Tensor::U64(a.mapv(S::to_u64)),
            DType::Bool => Tensor::Bool(a.mapv(S::to_bool)),
        }
    }
    if t.dtype() == to {
        return t.clone();
    }
    crate::dispatch!(t, a => go(a, to))
}

fn build_cast(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let code = ctx.attrs().int("to")?.ok_or_else(|| Error::invalid("Cast needs the 'to' attribute"))?;
    let to = i32::try_from(code)
        .map_err(|_| Error::invalid(format!("Cast: 'to' = {code} is not a tensor type")))
        .and_then(DType::from_onnx_code)?;
    // `saturate` (opset 19+) only affects float8 targets, which are not supported.
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| Ok(vec![cast(required(inputs, 0, "input")?, to)]))))
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
            out.push(if opset < 10 { cast(&ones, x.dtype()) } else { ones });
        }
        Ok(out)
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts_follow_astype() {
        let f = Tensor::from_vec(&[6], vec![-2.7f32, -0.5, 0.0, 0.5, 300.0, f32::NAN]).unwrap();
        assert_eq!(cast(&f, DType::I32).to_i64_vec().unwrap(), vec![-2, 0, 0, 0, 300, 0]);
        assert_eq!(cast(&f, DType::Bool), Tensor::from_vec(&[6], vec![true, true, false, true, true, true]).unwrap());
        let i = Tensor::from_vec(&[3], vec![300i64, -1, 128]).unwrap();
        assert_eq!(cast(&i, DType::I8).to_i64_vec().unwrap(), vec![44, -1, -128]);
        assert_eq!(cast(&i, DType::U8).to_i64_vec().unwrap(), vec![44, 255, 128]);
        let h = cast(&Tensor::from_vec(&[2], vec![0.1f32, 65520.0]).unwrap(), DType::F16);
        assert_eq!(h.to_f32_vec(), vec![f16::from_f32(0.1).to_f32(), f32::INFINITY]);
        let b = Tensor::from_vec(&[2], vec![true, false]).unwrap();
        assert_eq!(cast(&b, DType::F64).to_f32_vec(), vec![1.0, 0.0]);
    }
}
