//! Which stored phone-number addresses an INVITE may be for.
//!
//! Phone numbers are stored as E.164 numbers or SIP URIs (unique across
//! tenants). Two conventions extend SIP URIs for what `parla.toml` allows:
//!
//! * `sip:<user>@*` matches that Request-URI user at any host (`parla.toml`:
//!   `numbers = ["support"]`);
//! * `sip:*@*` matches any destination (`numbers = ["*"]`), after every
//!   more specific address.
//!
//! An INVITE is looked up as, in order: the dialed user as an E.164 number
//! (`+15551234567`, also `15551234567` or `+1 (555) 123-4567`), the exact
//! Request-URI (parameters dropped), `sip:<user>@*`, then `sip:*@*`.

use parla_admin_core::domain::NumberAddress;

/// The catch-all address (`*` in `parla.toml`).
pub const ANY_DESTINATION: &str = "sip:*@*";

/// Whether `s` looks like a phone number: digits and `+-(). ` only, with at
/// least one digit.
fn is_phone(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_digit() || "+-(). ".contains(c))
        && s.chars().any(|c| c.is_ascii_digit())
}

/// `+` and the digits of a phone-like string, as E.164 (if valid).
fn e164_of(s: &str) -> Option<NumberAddress> {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    format!("+{digits}").parse().ok()
}

/// The stored address of a `parla.toml` number: `*` → `sip:*@*`, a phone
/// number → E.164, a SIP URI as is, a bare user → `sip:<user>@*`.
/// `None` when it is none of these.
pub fn stored_address(number: &str) -> Option<NumberAddress> {
    let n = number.trim();
    if n == "*" {
        return ANY_DESTINATION.parse().ok();
    }
    if is_phone(n) {
        return e164_of(n);
    }
    if n.contains(':') {
        return strip_uri_params(n).parse().ok();
    }
    format!("sip:{n}@*").parse().ok()
}

/// `<sip:alice@example.com;transport=udp>` → `sip:alice@example.com`.
fn strip_uri_params(uri: &str) -> &str {
    let uri = uri.trim().trim_start_matches('<').trim_end_matches('>');
    uri.split(';').next().unwrap_or(uri)
}

/// The addresses to look up for an INVITE, most specific first (see the
/// module docs). Never empty: the catch-all is always last.
pub fn candidates(dialed_user: Option<&str>, request_uri: &str) -> Vec<NumberAddress> {
    let mut out: Vec<NumberAddress> = Vec::with_capacity(4);
    let mut push = |a: Option<NumberAddress>| {
        if let Some(a) = a {
            if !out.contains(&a) {
                out.push(a);
            }
        }
    };
    let user = dialed_user.map(str::trim).filter(|u| !u.is_empty());
    if let Some(u) = user.filter(|u| is_phone(u)) {
        push(e164_of(u));
    }
    push(strip_uri_params(request_uri).parse().ok());
    if let Some(u) = user {
        push(format!("sip:{u}@*").parse().ok());
    }
    push(ANY_DESTINATION.parse().ok());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: Vec<NumberAddress>) -> Vec<String> {
        v.iter().map(|a| a.as_str().to_owned()).collect()
    }

    #[test]
    fn parla_toml_numbers_map_to_stored_addresses() {
        let s = |n| stored_address(n).map(|a| a.as_str().to_owned());
        assert_eq!(s("*").as_deref(), Some("sip:*@*"));
        assert_eq!(s("+1 (555) 123-4567").as_deref(), Some("+15551234567"));
        assert_eq!(s("15551234567").as_deref(), Some("+15551234567"));
        assert_eq!(s("support").as_deref(), Some("sip:support@*"));
        assert_eq!(
            s("sip:Sales@Example.com;transport=tcp").as_deref(),
            Some("sip:Sales@example.com")
        );
        assert_eq!(s("has space"), None);
        assert_eq!(s("+0"), None);
    }

    #[test]
    fn invite_candidates_go_from_specific_to_catch_all() {
        assert_eq!(
            strs(candidates(
                Some("15551234567"),
                "sip:15551234567@10.0.0.1:5060"
            )),
            [
                "+15551234567",
                "sip:15551234567@10.0.0.1:5060",
                "sip:15551234567@*",
                "sip:*@*"
            ]
        );
        assert_eq!(
            strs(candidates(
                Some("support"),
                "<sip:support@Example.com;user=phone>"
            )),
            ["sip:support@example.com", "sip:support@*", "sip:*@*"]
        );
        assert_eq!(strs(candidates(None, "garbage")), ["sip:*@*"]);
    }
}
