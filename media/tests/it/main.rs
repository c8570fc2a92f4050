//! Integration tests of parla-media (one test binary; one module per area).

mod amd;
