//! Stub: filled in by a later issue.
