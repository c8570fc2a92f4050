//! Arbitrary bytes as the WAV file of an offline tool (the test caller's
//! `--play`, the load harness's utterances): decoding must return audio or
//! an error, never panic, and never more audio than the length limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parla_media::wav::{read_mono_8k, MAX_WAV_SECONDS};

fuzz_target!(|data: &[u8]| {
    if let Ok(pcm) = read_mono_8k(data) {
        assert!(pcm.len() <= (MAX_WAV_SECONDS as usize + 1) * 8000);
    }
});
