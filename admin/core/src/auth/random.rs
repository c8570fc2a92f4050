//! Randomness and small encoding helpers shared by the token generators.
//!
//! All secret material comes straight from the operating system's CSPRNG
//! ([`rand::rngs::OsRng`], i.e. `getrandom(2)` on Linux).

use rand::rngs::OsRng;
use rand::TryRngCore;

/// Base62 alphabet (`0-9A-Za-z`): URL-, header- and copy-paste-safe.
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Fills `buf` from the OS CSPRNG.
///
/// # Panics
///
/// If the operating system's random source fails. That is not an input
/// condition: without working randomness every key, token and nonce would be
/// guessable, so refusing to continue is the only safe behaviour (the same
/// choice `getrandom`-based crates such as `ring` make).
pub fn fill(buf: &mut [u8]) {
    if let Err(e) = OsRng.try_fill_bytes(buf) {
        panic!("operating system CSPRNG failed: {e}");
    }
}

/// `N` random bytes from the OS CSPRNG. See [`fill`] for the panic condition.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    fill(&mut b);
    b
}

/// A string of `len` characters drawn uniformly from `alphabet` (at most 256
/// symbols), using rejection sampling so there is no modulo bias.
pub fn string_from(alphabet: &[u8], len: usize) -> String {
    debug_assert!(!alphabet.is_empty() && alphabet.len() <= 256);
    let n = alphabet.len();
    // Largest multiple of n that fits in a byte: bytes >= limit are rejected.
    let limit = 256 - (256 % n);
    let mut out = String::with_capacity(len);
    let mut pool = [0u8; 64];
    while out.len() < len {
        fill(&mut pool);
        for &b in &pool {
            if (b as usize) < limit {
                out.push(alphabet[b as usize % n] as char);
                if out.len() == len {
                    break;
                }
            }
        }
    }
    out
}

/// Lowercase hex encoding.
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0x0f) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_encodes_lowercase() {
        assert_eq!(hex(&[0x00, 0xab, 0xff, 0x10]), "00abff10");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn bytes_are_not_constant() {
        let a: [u8; 32] = bytes();
        let b: [u8; 32] = bytes();
        assert_ne!(a, b);
    }

    #[test]
    fn string_from_uses_only_the_alphabet_and_covers_it() {
        let s = string_from(BASE62, 20_000);
        assert_eq!(s.len(), 20_000);
        assert!(s.bytes().all(|c| BASE62.contains(&c)));
        // Every symbol shows up (probability of a miss is ~62 * e^-322).
        for c in BASE62 {
            assert!(s.as_bytes().contains(c), "missing {}", *c as char);
        }
        // Rough uniformity: each symbol expected ~322 times.
        for c in BASE62 {
            let count = s.bytes().filter(|b| b == c).count();
            assert!((150..550).contains(&count), "{} seen {count}", *c as char);
        }
        assert_eq!(string_from(b"ab", 0), "");
    }
}
