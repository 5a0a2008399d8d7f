//! Direct 2-D depthwise convolution, f32 (placeholder, filled in with conv).
