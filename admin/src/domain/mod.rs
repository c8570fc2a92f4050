//! Domain types (filled in).
