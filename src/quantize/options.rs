//! What the caller asks of the quantizer: [`QuantOptions`], parsed from JS objects and CLI flags
//! (serde, camelCase field names, every field optional), and [`QuantOptions::validate`], which
//! turns contradictions into [`Error::InvalidOptions`] before any work starts.
use crate::calibrate::CalibrationMethod;
use crate::error::{Error, Result};
use crate::tensor::DType;

/// Which quantization to perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuantMode {
    /// Weights and activations int8, activation ranges from calibration data.
    #[default]
    Static,
    /// Int8 weights; activations quantized at run time (DynamicQuantizeLinear), no calibration.
    Dynamic,
    /// Int8 per-channel or int4 block-wise (MatMulNBits) weights; activations stay float.
    #[serde(alias = "weightOnly", alias = "weight_only")]
    WeightOnly,
    /// Float16 weights (and compute).
    #[serde(alias = "float16")]
    Fp16,
}

/// How a static model is written (onnxruntime's `QuantFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuantFormat {
    /// Float ops between QuantizeLinear/DequantizeLinear pairs; runtimes fuse the patterns.
    #[default]
    Qdq,
    /// Integer ops (QLinearConv, QLinearMatMul, com.microsoft QLinearAdd, ...).
    #[serde(alias = "qOperator", alias = "q_operator")]
    QOperator,
}

/// An 8-bit integer type for quantized tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub enum QType {
    #[default]
    #[serde(rename = "uint8", alias = "u8")]
    U8,
    #[serde(rename = "int8", alias = "i8")]
    I8,
}

impl QType {
    /// Smallest value of the type, or of its 7-bit reduced range (docs/quantization.md §1, §5).
    pub fn qmin(self, reduce_range: bool) -> i32 {
        match (self, reduce_range) {
            (QType::U8, _) => 0,
            (QType::I8, false) => -128,
            (QType::I8, true) => -64,
        }
    }
    /// Largest value of the type, or of its 7-bit reduced range (§1, §5).
    pub fn qmax(self, reduce_range: bool) -> i32 {
        match (self, reduce_range) {
            (QType::U8, false) => 255,
            (QType::U8, true) => 127,
            (QType::I8, false) => 127,
            (QType::I8, true) => 63,
        }
    }
    pub fn dtype(self) -> DType {
        match self {
            QType::U8 => DType::U8,
            QType::I8 => DType::I8,
        }
    }
    /// The ONNX name, as reports print it.
    pub fn name(self) -> &'static str {
        match self {
            QType::U8 => "uint8",
            QType::I8 => "int8",
        }
    }
}

/// Everything that controls a quantization run. Deserialized from JSON/JS objects with camelCase
/// names; omitted fields take the defaults below (onnxruntime's `quantize_static` defaults, except
/// per-channel weights, which we default on). Unknown fields are an error, so a typo is not
/// silently ignored.
///
/// ```json
/// { "mode": "static", "format": "qdq", "calibration": "percentile", "perChannel": true,
///   "activationType": "uint8", "excludeOpTypes": ["Softmax"], "keepFloat": 2 }
/// ```
///
/// `calibration` is a method name (`"minmax"`, `"percentile"`, `"entropy"`, `"mse"`) or an object
/// with its options (`{"method": "percentile", "percentile": 99.99}`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct QuantOptions {
    pub mode: QuantMode,
    /// Static mode only: QDQ (default) or QOperator.
    pub format: QuantFormat,
    /// Static mode only: how activation ranges are computed (default MinMax).
    #[serde(deserialize_with = "method_name_or_object")]
    pub calibration: CalibrationMethod,
    /// One scale per output channel for Conv/Gemm/MatMul weights (docs/quantization.md §6).
    pub per_channel: bool,
    /// Activations symmetric around zero (int8 activations only, zero point 0; §3).
    pub symmetric_activations: bool,
    pub activation_type: QType,
    /// Weights are always symmetric (§3); int8 (default) or uint8 with zero point 128.
    pub weight_type: QType,
    /// 8 (default) or 4; 4 bits only in weight-only mode (block-wise MatMulNBits).
    pub weight_bits: u32,
    /// Elements per int4 block (power of two, at least 16), weight-only int4 only.
    pub block_size: usize,
    /// 7-bit weights (§5), for CPUs whose int8 dot products can overflow 16-bit intermediates.
    pub reduce_range: bool,
    /// Node names kept in float.
    pub exclude_nodes: Vec<String>,
    /// Op types kept in float.
    pub exclude_op_types: Vec<String>,
    /// Static mode: keep the N layers that lose most (activation SQNR) in float.
    pub keep_float: usize,
}

impl Default for QuantOptions {
    fn default() -> Self {
        QuantOptions {
            mode: QuantMode::Static,
            format: QuantFormat::Qdq,
            calibration: CalibrationMethod::default(),
            per_channel: true,
            symmetric_activations: false,
            activation_type: QType::U8,
            weight_type: QType::I8,
            weight_bits: 8,
            block_size: 32,
            reduce_range: false,
            exclude_nodes: Vec::new(),
            exclude_op_types: Vec::new(),
            keep_float: 0,
        }
    }
}

/// Accepts `"percentile"` as shorthand for `{"method": "percentile"}` with default options.
fn method_name_or_object<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<CalibrationMethod, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Spec {
        Name(String),
        Full(CalibrationMethod),
    }
    match <Spec as serde::Deserialize>::deserialize(d)? {
        Spec::Full(m) => Ok(m),
        Spec::Name(name) => match name.to_ascii_lowercase().as_str() {
            "minmax" => Ok(CalibrationMethod::default()),
            "percentile" => Ok(CalibrationMethod::percentile()),
            "entropy" => Ok(CalibrationMethod::entropy()),
            "mse" => Ok(CalibrationMethod::mse()),
            other => Err(serde::de::Error::custom(format!(
                "unknown calibration method '{other}' (expected minmax, percentile, entropy or mse)"
            ))),
        },
    }
}

impl QuantOptions {
    /// Parses options from JSON (as the CLI and tests pass them) and validates them.
    pub fn from_json(json: &str) -> Result<QuantOptions> {
        let o: QuantOptions = serde_json::from_str(json).map_err(|e| Error::InvalidOptions(e.to_string()))?;
        o.validate()?;
        Ok(o)
    }

    /// Whether a node is excluded by name or op type.
    pub fn excludes(&self, node_name: &str, op_type: &str) -> bool {
        self.exclude_nodes.iter().any(|n| n == node_name) || self.exclude_op_types.iter().any(|t| t == op_type)
    }

    /// Checks that the options agree with each other; [`Error::InvalidOptions`] says which do not.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidOptions(m));
        if self.weight_bits != 8 && self.weight_bits != 4 {
            return bad(format!("weightBits must be 8 or 4, got {}", self.weight_bits));
        }
        if self.weight_bits == 4 && self.mode != QuantMode::WeightOnly {
            return bad(format!(
                "4-bit weights exist only in weight-only mode (block-wise MatMulNBits), not in {} mode",
                self.mode_name()
            ));
        }
        if self.weight_bits == 4 && (self.block_size < 16 || !self.block_size.is_power_of_two()) {
            return bad(format!("blockSize must be a power of two of at least 16, got {}", self.block_size));
        }
        if self.symmetric_activations && self.activation_type == QType::U8 {
            return bad(
                "symmetric activations need activationType int8 (symmetric uint8 would put zero at 128 \
                 and waste half the range of every ReLU output)"
                    .into(),
            );
        }
        if self.mode != QuantMode::Static && self.symmetric_activations {
            return bad(format!(
                "symmetricActivations applies to static mode only ({} mode does not calibrate activations)",
                self.mode_name()
            ));
        }
        if self.mode == QuantMode::Dynamic && self.activation_type == QType::I8 {
            return bad("dynamic mode quantizes activations to uint8 (DynamicQuantizeLinear is uint8 only)".into());
        }
        if self.weight_type == QType::U8 && self.activation_type == QType::I8 {
            return bad("int8 activations with uint8 weights: onnxruntime implements no such integer kernel".into());
        }
        if self.keep_float > 0 && self.mode != QuantMode::Static {
            return bad(format!(
                "keepFloat needs static mode (it ranks layers by their error on calibration data), not {} mode",
                self.mode_name()
            ));
        }
        if self.mode == QuantMode::Static {
            self.calibration.validate()?;
        }
        if let Some(empty) = self.exclude_nodes.iter().chain(&self.exclude_op_types).find(|s| s.is_empty()) {
            return bad(format!("excludeNodes/excludeOpTypes contain an empty name ({empty:?})"));
        }
        Ok(())
    }

    fn mode_name(&self) -> &'static str {
        match self.mode {
            QuantMode::Static => "static",
            QuantMode::Dynamic => "dynamic",
            QuantMode::WeightOnly => "weight-only",
            QuantMode::Fp16 => "fp16",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let o = QuantOptions::default();
        assert_eq!(o.mode, QuantMode::Static);
        assert_eq!(o.format, QuantFormat::Qdq);
        assert!(o.per_channel && !o.symmetric_activations && !o.reduce_range);
        assert_eq!((o.activation_type, o.weight_type, o.weight_bits, o.block_size), (QType::U8, QType::I8, 8, 32));
        o.validate().unwrap();
        assert_eq!(QuantOptions::from_json("{}").unwrap(), o);
    }

    #[test]
    fn parses_camel_case_json_from_js() {
        let o = QuantOptions::from_json(
            r#"{"mode":"static","format":"qoperator","calibration":{"method":"percentile","percentile":99.9},
                "perChannel":false,"symmetricActivations":true,"activationType":"int8","reduceRange":true,
                "excludeNodes":["conv1"],"excludeOpTypes":["Softmax"],"keepFloat":2}"#,
        )
        .unwrap();
        assert_eq!(o.format, QuantFormat::QOperator);
        assert_eq!(o.calibration, CalibrationMethod::Percentile { percentile: 99.9 });
        assert!(!o.per_channel && o.symmetric_activations && o.reduce_range);
        assert_eq!(o.activation_type, QType::I8);
        assert_eq!(o.keep_float, 2);
        assert!(o.excludes("conv1", "Conv") && o.excludes("x", "Softmax") && !o.excludes("x", "Conv"));
        let o = QuantOptions::from_json(r#"{"calibration":"entropy","mode":"weight-only","weightBits":4,"blockSize":64}"#).unwrap();
        assert_eq!(o.calibration, CalibrationMethod::entropy());
        assert_eq!((o.mode, o.weight_bits, o.block_size), (QuantMode::WeightOnly, 4, 64));
        assert_eq!(QuantOptions::from_json(r#"{"mode":"weightOnly"}"#).unwrap().mode, QuantMode::WeightOnly);
        assert_eq!(QuantOptions::from_json(r#"{"mode":"fp16"}"#).unwrap().mode, QuantMode::Fp16);
        // Serialization round-trips.
        let json = serde_json::to_string(&o).unwrap();
        assert_eq!(QuantOptions::from_json(&json).unwrap(), o);
    }

    #[test]
    fn unknown_fields_and_values_are_invalid_options() {
        for bad in [
            r#"{"per_channel":false}"#,
            r#"{"mode":"int8"}"#,
            r#"{"calibration":"kl"}"#,
            r#"{"activationType":"int16"}"#,
            r#"{"keepFloat":-1}"#,
            "[",
        ] {
            let e = QuantOptions::from_json(bad).unwrap_err();
            assert_eq!(e.code(), "INVALID_OPTIONS", "{bad}: {e}");
        }
    }

    #[test]
    fn contradictions_are_rejected() {
        let cases = [
            (r#"{"weightBits":4}"#, "weight-only"),
            (r#"{"weightBits":6,"mode":"weight-only"}"#, "8 or 4"),
            (r#"{"mode":"weight-only","weightBits":4,"blockSize":24}"#, "power of two"),
            (r#"{"mode":"weight-only","weightBits":4,"blockSize":8}"#, "power of two"),
            (r#"{"symmetricActivations":true}"#, "int8"),
            (r#"{"mode":"dynamic","activationType":"int8"}"#, "uint8"),
            (r#"{"mode":"dynamic","activationType":"int8","symmetricActivations":true}"#, "static mode only"),
            (r#"{"weightType":"uint8","activationType":"int8"}"#, "uint8 weights"),
            (r#"{"keepFloat":1,"mode":"fp16"}"#, "keepFloat"),
            (r#"{"calibration":{"method":"percentile","percentile":0}}"#, "ercentile"),
            (r#"{"excludeNodes":[""]}"#, "empty"),
        ];
        for (json, needle) in cases {
            let e = QuantOptions::from_json(json).unwrap_err();
            assert!(matches!(&e, Error::InvalidOptions(m) if m.contains(needle)), "{json}: {e}");
        }
        // Not contradictions: symmetric int8 activations, uint8 weights with uint8 activations.
        QuantOptions::from_json(r#"{"symmetricActivations":true,"activationType":"int8"}"#).unwrap();
        QuantOptions::from_json(r#"{"weightType":"uint8"}"#).unwrap();
    }

    #[test]
    fn qtype_ranges() {
        assert_eq!((QType::U8.qmin(false), QType::U8.qmax(false)), (0, 255));
        assert_eq!((QType::I8.qmin(false), QType::I8.qmax(false)), (-128, 127));
        assert_eq!((QType::U8.qmin(true), QType::U8.qmax(true)), (0, 127));
        assert_eq!((QType::I8.qmin(true), QType::I8.qmax(true)), (-64, 63));
    }
}
