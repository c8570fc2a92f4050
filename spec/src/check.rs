//! Checks of single values: text, secrets, numbers and URLs.

/// Longest accepted `base_url`, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// Longest accepted API key, in bytes.
pub const MAX_SECRET_BYTES: usize = 4096;
/// Longest field name echoed back in an error, in characters.
const MAX_ECHOED_KEY_CHARS: usize = 64;

/// The type and range of one setting.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// An absolute URL with one of these schemes.
    Url(&'static [&'static str]),
    /// An API key: non-empty printable text up to [`MAX_SECRET_BYTES`].
    Secret,
    /// Printable one-line text of at most this many characters.
    Text(usize),
    /// An integer in `min..=max`.
    U32(u32, u32),
    /// A number in `min..=max`.
    F32(f32, f32),
    Bool,
    /// A flow script (checked by [`crate::FlowScript::check`]).
    Flow,
}

/// A user-supplied key made safe to echo in a field path.
pub(crate) fn key_name(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(MAX_ECHOED_KEY_CHARS)
        .collect()
}

/// Why `value` does not fit `kind`, if it does not.
pub(crate) fn value(kind: Kind, value: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value;
    match (kind, value) {
        (Kind::Url(schemes), Value::String(s)) => url(s, schemes),
        (Kind::Secret, Value::String(s)) => {
            if s.is_empty() {
                Err("must not be empty".into())
            } else if s.len() > MAX_SECRET_BYTES {
                Err(format!("must be at most {MAX_SECRET_BYTES} bytes"))
            } else if s.chars().any(char::is_control) {
                Err("must not contain control characters".into())
            } else {
                Ok(())
            }
        }
        (Kind::Text(max), Value::String(s)) => text(s, max),
        (Kind::U32(min, max), Value::Number(n)) => match n.as_u64() {
            Some(v) if (u64::from(min)..=u64::from(max)).contains(&v) => Ok(()),
            _ => Err(format!("must be an integer from {min} to {max}")),
        },
        (Kind::F32(min, max), Value::Number(n)) => match n.as_f64() {
            Some(v) if (f64::from(min)..=f64::from(max)).contains(&v) => Ok(()),
            _ => Err(format!("must be a number from {min} to {max}")),
        },
        (Kind::Bool, Value::Bool(_)) => Ok(()),
        (Kind::Url(_) | Kind::Secret | Kind::Text(_), _) => Err("must be a string".into()),
        (Kind::U32(min, max), _) => Err(format!("must be an integer from {min} to {max}")),
        (Kind::F32(min, max), _) => Err(format!("must be a number from {min} to {max}")),
        (Kind::Bool, _) => Err("must be true or false".into()),
        (Kind::Flow, _) => unreachable!("flow scripts are checked by FlowScript::check"),
    }
}

/// Printable one-line text of at most `max` characters (may be empty).
pub(crate) fn text(s: &str, max: usize) -> Result<(), String> {
    if s.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else if s.chars().any(char::is_control) {
        Err("must not contain control characters".into())
    } else {
        Ok(())
    }
}

/// Multi-line text (newlines and tabs allowed) of at most `max` characters.
pub(crate) fn long_text(s: &str, max: usize) -> Result<(), String> {
    if s.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else if s
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        Err("must not contain control characters".into())
    } else {
        Ok(())
    }
}

/// An absolute URL with a scheme from `schemes`, a host, an optional port,
/// and no userinfo. Syntax only: where it points is the outbound guard's
/// business.
pub(crate) fn url(s: &str, schemes: &[&str]) -> Result<(), String> {
    let expected = || {
        format!(
            "must be an absolute {} URL with a host",
            schemes.join(" or ")
        )
    };
    if s.len() > MAX_URL_BYTES {
        return Err(format!("must be at most {MAX_URL_BYTES} bytes"));
    }
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain spaces or control characters".into());
    }
    let Some((scheme, rest)) = s.split_once("://") else {
        return Err(expected());
    };
    if !schemes.iter().any(|ok| ok.eq_ignore_ascii_case(scheme)) {
        return Err(expected());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not contain a user name or password".into());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((inside, after)) = v6.split_once(']') else {
            return Err(expected());
        };
        if inside.is_empty()
            || !inside
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(expected());
        }
        match after {
            "" => (inside, None),
            p => match p.strip_prefix(':') {
                Some(port) => (inside, Some(port)),
                None => return Err(expected()),
            },
        }
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        let host_trimmed = host.strip_suffix('.').unwrap_or(host);
        if host.is_empty() || host.len() > 253 || !host_trimmed.split('.').all(label_ok) {
            return Err(expected());
        }
        (host, port)
    };
    if host.is_empty() {
        return Err(expected());
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 && port.chars().all(|c| c.is_ascii_digit()) => {}
            _ => return Err("has an invalid port".into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let web = &["https", "http"];
        for ok in [
            "https://api.openai.com/v1",
            "http://127.0.0.1:9400/v1",
            "https://[::1]:8443/x?y#z",
            "HTTPS://Example.COM",
        ] {
            assert_eq!(url(ok, web), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "api.openai.com/v1",
            "ftp://example.com",
            "file:///etc/passwd",
            "https://",
            "https://user:pw@example.com/",
            "https://example.com:99999/",
            "https://example.com:/",
            "https://exa mple.com/",
            "https://example.com/\u{0}",
            "https://[zz]/",
            "https://a..b/",
        ] {
            assert!(url(bad, web).is_err(), "{bad:?} accepted");
        }
        assert!(url("wss://api.deepgram.com", web).is_err());
        assert_eq!(
            url("wss://api.deepgram.com", &["wss", "ws", "https", "http"]),
            Ok(())
        );
    }

    #[test]
    fn values() {
        use serde_json::json;
        assert!(value(Kind::F32(0.0, 2.0), &json!(2.5)).is_err());
        assert!(value(Kind::F32(0.0, 2.0), &json!("1")).is_err());
        assert!(value(Kind::F32(0.0, 2.0), &json!(0.7)).is_ok());
        assert!(value(Kind::U32(1, 10), &json!(0)).is_err());
        assert!(value(Kind::U32(1, 10), &json!(-1)).is_err());
        assert!(value(Kind::U32(1, 10), &json!(1.5)).is_err());
        assert!(value(Kind::Text(3), &json!("abcd")).is_err());
        assert!(value(Kind::Text(30), &json!("a\u{0}b")).is_err());
        assert!(value(Kind::Secret, &json!("")).is_err());
        assert!(value(Kind::Secret, &json!("sk-\n")).is_err());
        assert!(value(Kind::Bool, &json!(1)).is_err());
        assert_eq!(key_name("a\u{0}b"), "a?b");
    }
}
