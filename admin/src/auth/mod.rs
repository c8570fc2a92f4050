//! Authentication primitives (filled in).
