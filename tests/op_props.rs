//! The properties each op declares once, at registration (`ops::OpProps`): data movement or not,
//! which inputs may stay 8-bit, and how the quantizer treats it. The quantizer and the QDQ fusion
//! read only these declarations; these tests fail when a declaration is missing or when the two
//! readers would disagree again (they kept two lists before, and Expand, ReduceMax and ReduceMin
//! ran on the integers in the fusion while the quantizer left them float).
use webptq::ops::{Int8Inputs, QuantRule, Registry};

/// The ONNX ops whose definition only moves, copies or selects elements by position (no element
/// is read as a number), registered here or not yet: every one this build registers must declare
/// `data_movement`, and no other op may. The not-yet-registered ones are listed so that their
/// registration fails this test until it declares the property.
const DATA_MOVEMENT: &[&str] = &[
    "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Split", "Slice", "Gather", "GatherElements",
    "GatherND", "Expand", "Tile", "DepthToSpace", "SpaceToDepth", "Identity", "ReverseSequence", "Compress", "Trilu", "Pad",
    "Where",
    // Not registered yet.
    "CenterCropPad", "SplitToSequence", "ConcatFromSequence", "SequenceAt", "SequenceConstruct", "SequenceInsert",
    "SequenceErase", "Optional", "OptionalGetElement",
];

fn default_domain_ops() -> Vec<String> {
    Registry::standard().op_types().into_iter().filter(|(d, _)| d.is_empty()).map(|(_, op)| op).collect()
}

#[test]
fn every_data_movement_op_declares_it() {
    let r = Registry::standard();
    let mut missing = Vec::new();
    let mut extra = Vec::new();
    for op in default_domain_ops() {
        let declared = r.props("", &op).unwrap().data_movement;
        let listed = DATA_MOVEMENT.contains(&op.as_str());
        if listed && !declared {
            missing.push(op);
        } else if declared && !listed {
            extra.push(op);
        }
    }
    assert!(missing.is_empty(), "data-movement ops registered without `.data_movement()`: {missing:?}");
    assert!(extra.is_empty(), "ops declared data movement that ONNX defines as computing: {extra:?}");
    // The list names registered ops (a list of typos would make the check above vacuous).
    let registered = DATA_MOVEMENT.iter().filter(|op| r.supports("", op)).count();
    assert!(registered >= 21, "only {registered} of the listed data-movement ops are registered");
}

/// An op that may run on an 8-bit input as it is (the fusion drops its Q/DQ pair) is exactly an
/// op the quantizer keeps 8-bit sharing its input's parameters, so that our own exports meet the
/// fusion and the fusion meets nothing the quantizer would not write.
#[test]
fn quantizer_and_fusion_read_the_same_declaration() {
    let r = Registry::standard();
    let q = webptq::quantize::registry::QuantHandlers::standard();
    for op in default_domain_ops() {
        let p = r.props("", &op).unwrap();
        let shares = matches!(p.quant, QuantRule::ShareInput | QuantRule::Gather | QuantRule::MaxPool | QuantRule::Resize);
        match p.int8 {
            Int8Inputs::None => assert!(!shares && p.quant != QuantRule::Concat, "{op}: quantized sharing its input's parameters ({:?}) but not declared 8-bit", p.quant),
            Int8Inputs::Only(inputs) => {
                assert_eq!(inputs, &[0], "{op}: the fusion runs input 0 on the integers");
                assert!(shares, "{op}: may stay 8-bit but the quantizer's rule is {:?}", p.quant);
            }
            Int8Inputs::All => assert_eq!(p.quant, QuantRule::Concat, "{op}"),
        }
        // Data movement that declares an 8-bit input is quantized by sharing (never requantized).
        if p.data_movement && p.int8 != Int8Inputs::None {
            assert!(shares || p.quant == QuantRule::Concat, "{op}");
        }
        // The quantizer has a handler exactly for the ops that declare a rule.
        assert_eq!(q.supports(&op), p.quant != QuantRule::Float, "{op}: {:?}", p.quant);
    }
    // Other domains never get a handler: they stay float.
    assert!(!q.supports("FusedConv"));
}

#[test]
fn a_registration_without_declarations_is_float_and_computing() {
    let mut r = Registry::default();
    r.register("", "Frob", |_| Err(webptq::Error::invalid("never built")));
    let p = r.props("", "Frob").unwrap();
    assert!(!p.data_movement);
    assert_eq!(p.int8, Int8Inputs::None);
    assert_eq!(p.quant, QuantRule::Float);
    r.register("", "Frob2", |_| Err(webptq::Error::invalid("never built"))).moves_8bit();
    let p = r.props("", "Frob2").unwrap();
    assert!(p.data_movement && p.int8.allows(0) && !p.int8.allows(1) && p.quant == QuantRule::ShareInput);
    let q = webptq::quantize::registry::QuantHandlers::from_ops(&r);
    assert!(q.supports("Frob2") && !q.supports("Frob"));
}
