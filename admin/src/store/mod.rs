//! Storage (filled in).
