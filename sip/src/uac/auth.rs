//! Digest access authentication for our INVITE (RFC 3261 §22.2–§22.3,
//! RFC 2617 §3, RFC 8760 for SHA-256): read the `WWW-Authenticate` /
//! `Proxy-Authenticate` challenge and write `Authorization` /
//! `Proxy-Authorization`. The hash itself is rsipstack's
//! `dialog::authenticate::compute_digest` (MD5 and SHA-256; `qop=auth` or
//! no qop).

use rsipstack::dialog::authenticate::compute_digest;
use rsipstack::sip::headers::auth::{Algorithm, AuthQop};
use rsipstack::sip::Method;

/// Longest challenge header value parsed, in bytes.
pub const MAX_CHALLENGE_BYTES: usize = 4_096;

/// A username and password for digest authentication.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Digest username.
    pub username: String,
    /// Password (never logged).
    pub password: String,
}

impl Credentials {
    /// Username and password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// The digest algorithms we answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    /// MD5 (RFC 2617; also when the challenge names none).
    Md5,
    /// SHA-256 (RFC 8760 §2.2, RFC 7616).
    Sha256,
}

impl DigestAlgorithm {
    /// The token written back in the credentials (`MD5`, `SHA-256`).
    pub fn token(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Sha256 => "SHA-256",
        }
    }

    fn of(token: Option<&str>) -> Option<Self> {
        match token.map(str::trim) {
            None => Some(Self::Md5),
            Some(t) if t.eq_ignore_ascii_case("MD5") => Some(Self::Md5),
            // RFC 8760 spells it SHA-256; some servers write SHA256.
            Some(t) if t.eq_ignore_ascii_case("SHA-256") || t.eq_ignore_ascii_case("SHA256") => {
                Some(Self::Sha256)
            }
            _ => None,
        }
    }

    fn rsip(self) -> Algorithm {
        match self {
            Self::Md5 => Algorithm::Md5,
            Self::Sha256 => Algorithm::Sha256,
        }
    }
}

/// One digest challenge (RFC 2617 §3.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `opaque`, echoed back.
    pub opaque: Option<String>,
    /// `algorithm` as written (`None`: MD5).
    pub algorithm: Option<String>,
    /// The `qop` options offered (e.g. `["auth", "auth-int"]`).
    pub qop: Vec<String>,
    /// `stale=true`: the nonce expired, the credentials were fine.
    pub stale: bool,
}

impl Challenge {
    /// The algorithm, if we support it (MD5 or SHA-256).
    pub fn supported_algorithm(&self) -> Option<DigestAlgorithm> {
        DigestAlgorithm::of(self.algorithm.as_deref())
    }

    /// Whether we can answer it: a supported algorithm, and `qop` absent or
    /// offering `auth` (`auth-int` alone is not supported).
    pub fn is_supported(&self) -> bool {
        self.supported_algorithm().is_some()
            && (self.qop.is_empty() || self.qop.iter().any(|q| q.eq_ignore_ascii_case("auth")))
    }
}

/// Reads one `Digest` challenge, e.g. `Digest realm="biloxi.com",
/// qop="auth,auth-int", nonce="dcd98b...", opaque="5ccc..."`. `None` for
/// another scheme, a missing realm or nonce, a value longer than
/// [`MAX_CHALLENGE_BYTES`], or broken syntax. Never panics.
pub fn parse_challenge(value: &str) -> Option<Challenge> {
    if value.len() > MAX_CHALLENGE_BYTES {
        return None;
    }
    let value = value.trim_start();
    let (scheme, rest) = value.split_once(|c: char| c.is_ascii_whitespace())?;
    if !scheme.eq_ignore_ascii_case("Digest") {
        return None;
    }
    let mut ch = Challenge {
        realm: String::new(),
        nonce: String::new(),
        opaque: None,
        algorithm: None,
        qop: Vec::new(),
        stale: false,
    };
    let (mut realm, mut nonce) = (None, None);
    for (name, v) in auth_params(rest)? {
        match name.to_ascii_lowercase().as_str() {
            "realm" => realm = Some(v),
            "nonce" => nonce = Some(v),
            "opaque" => ch.opaque = Some(v),
            "algorithm" => ch.algorithm = Some(v),
            "qop" => {
                ch.qop = v
                    .split(',')
                    .map(|q| q.trim().to_string())
                    .filter(|q| !q.is_empty())
                    .collect()
            }
            "stale" => ch.stale = v.eq_ignore_ascii_case("true"),
            _ => {}
        }
    }
    ch.realm = realm?;
    ch.nonce = nonce?;
    Some(ch)
}

/// `auth-param *(COMMA auth-param)`, `auth-param = token "=" ( token /
/// quoted-string )` (RFC 2617 §1.2), quoted strings unescaped.
fn auth_params(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars
            .peek()
            .is_some_and(|c| c.is_ascii_whitespace() || *c == ',')
        {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(out);
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_ascii_whitespace() {
                break;
            }
            if c == ',' || c == '"' || c.is_control() {
                return None;
            }
            name.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') || name.is_empty() {
            return None;
        }
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => value.push(chars.next()?),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_ascii_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((name, value));
    }
}

/// A quoted-string (RFC 3261 §25.1) with `"` and `\` escaped.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The credentials answering `challenge` (RFC 2617 §3.2.2, RFC 8760 §2.3)
/// for `method` on `uri` (the Request-URI exactly as sent): `Digest
/// username="..", realm="..", nonce="..", uri="..", response="..",
/// algorithm=MD5|SHA-256[, cnonce="..", qop=auth, nc=00000001][,
/// opaque=".."]`. `qop=auth` is used whenever the challenge offers it,
/// with `cnonce` and nonce count 1. `None` if the challenge is not
/// [supported](Challenge::is_supported).
pub fn digest_authorization(
    challenge: &Challenge,
    credentials: &Credentials,
    method: Method,
    uri: &str,
    cnonce: &str,
) -> Option<String> {
    if !challenge.is_supported() {
        return None;
    }
    let algorithm = challenge.supported_algorithm()?;
    let qop = (!challenge.qop.is_empty()).then(|| AuthQop::Auth {
        cnonce: cnonce.to_string(),
        nc: 1,
    });
    let response = compute_digest(
        &credentials.username,
        &credentials.password,
        &challenge.realm,
        &challenge.nonce,
        &method,
        uri,
        algorithm.rsip(),
        qop.as_ref(),
    );
    let mut out = format!(
        "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm={}",
        quote(&credentials.username),
        quote(&challenge.realm),
        quote(&challenge.nonce),
        quote(uri),
        quote(&response),
        algorithm.token()
    );
    if qop.is_some() {
        out.push_str(&format!(
            ", cnonce={}, qop=auth, nc=00000001",
            quote(cnonce)
        ));
    }
    if let Some(opaque) = &challenge.opaque {
        out.push_str(&format!(", opaque={}", quote(opaque)));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3261_example_challenge() {
        let ch = parse_challenge(
            "Digest realm=\"biloxi.com\", qop=\"auth,auth-int\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert_eq!(ch.realm, "biloxi.com");
        assert_eq!(ch.qop, vec!["auth", "auth-int"]);
        assert_eq!(
            ch.opaque.as_deref(),
            Some("5ccc069c403ebaf9f0171e9517f40e41")
        );
        assert!(ch.is_supported());
        assert_eq!(ch.supported_algorithm(), Some(DigestAlgorithm::Md5));
    }

    #[test]
    fn algorithms_and_unsupported_variants() {
        let ch = |alg: &str| {
            parse_challenge(&format!("Digest realm=r,nonce=n,algorithm={alg}")).unwrap()
        };
        assert_eq!(
            ch("SHA-256").supported_algorithm(),
            Some(DigestAlgorithm::Sha256)
        );
        assert_eq!(ch("md5").supported_algorithm(), Some(DigestAlgorithm::Md5));
        assert!(!ch("MD5-sess").is_supported());
        assert!(!ch("SHA-512-256").is_supported());
        let int_only = parse_challenge("Digest realm=r, nonce=n, qop=\"auth-int\"").unwrap();
        assert!(!int_only.is_supported());
        let stale = parse_challenge("Digest realm=r, nonce=n, stale=TRUE").unwrap();
        assert!(stale.stale);
    }

    #[test]
    fn rejects_other_schemes_and_broken_syntax() {
        assert_eq!(parse_challenge("Basic realm=\"x\""), None);
        assert_eq!(parse_challenge("Digest nonce=\"n\""), None, "no realm");
        assert_eq!(parse_challenge("Digest realm=\"unterminated"), None);
        assert_eq!(parse_challenge("Digest realm"), None);
        assert_eq!(parse_challenge("Digest =x"), None);
        assert_eq!(parse_challenge(""), None);
        assert_eq!(parse_challenge(&"Digest realm=a,".repeat(1000)), None);
    }

    #[test]
    fn quoted_values_are_escaped_both_ways() {
        let ch = parse_challenge(r#"Digest realm="a \"b\" \\c", nonce="n""#).unwrap();
        assert_eq!(ch.realm, r#"a "b" \c"#);
        let creds = Credentials::new("us\"er", "pw");
        let h = digest_authorization(&ch, &creds, Method::Invite, "sip:x@y", "c").unwrap();
        assert!(
            h.starts_with(r#"Digest username="us\"er", realm="a \"b\" \\c""#),
            "{h}"
        );
        assert!(!h.contains("qop"), "no qop offered: RFC 2069 form");
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let s = format!("{:?}", Credentials::new("alice", "hunter2"));
        assert!(!s.contains("hunter2"), "{s}");
    }
}
