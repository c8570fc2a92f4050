//! Masking secrets for display (panel and API responses) after they were
//! saved: enough to recognise which key is configured, never enough to use
//! it.

/// The mask shown in place of the hidden part. Always the same length, so
/// the display does not reveal how long the secret is.
pub const MASK: &str = "••••••••";
/// Secrets shorter than this (in characters) are masked completely.
pub const MIN_LEN_TO_REVEAL: usize = 8;
/// How many trailing characters are shown for longer secrets.
pub const REVEALED_CHARS: usize = 4;

/// Masks a secret for display: `••••••••abcd` (the last 4 characters) when it
/// has at least 8 characters, `••••••••` otherwise (including empty).
/// Counts Unicode scalar values, so it never splits a character.
pub fn mask_secret(s: &str) -> String {
    let n = s.chars().count();
    if n < MIN_LEN_TO_REVEAL {
        return MASK.to_owned();
    }
    let tail: String = s.chars().skip(n - REVEALED_CHARS).collect();
    format!("{MASK}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(mask_secret(""), "••••••••");
        assert_eq!(mask_secret("abc"), "••••••••");
        assert_eq!(mask_secret("1234567"), "••••••••");
        assert_eq!(mask_secret("12345678"), "••••••••5678");
        assert_eq!(mask_secret("sk-live-0123456789abcdef"), "••••••••cdef");
        // Multi-byte characters are not split.
        assert_eq!(mask_secret("pässwörd-ünïcödé"), "••••••••cödé");
        assert_eq!(mask_secret("ééééééé"), "••••••••");
    }

    #[test]
    fn never_reveals_more_than_four_chars() {
        use rand::Rng;
        let mut rng = rand::rng();
        for _ in 0..1_000 {
            let s: String = (0..rng.random_range(0..40))
                .map(|_| rng.random::<char>())
                .collect();
            let m = mask_secret(&s);
            assert!(m.starts_with(MASK));
            let shown = m.chars().count() - MASK.chars().count();
            assert!(shown <= 4);
            assert!(s.ends_with(&m[MASK.len()..]));
        }
    }
}
