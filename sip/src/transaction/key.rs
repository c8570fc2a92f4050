//! Transaction matching: RFC 3261 §17.2.3 (server side, with the RFC 2543
//! fallback for branches without the magic cookie) and §17.1.3 (client side).

use rsipstack::sip::prelude::{HeadersExt, ToTypedHeader};
use rsipstack::sip::{Method, Request, Response};

/// The "z9hG4bK" prefix marking an RFC 3261 branch (§8.1.1.7).
pub const BRANCH_MAGIC_COOKIE: &str = "z9hG4bK";

/// The method part of a server transaction key: ACK matches the INVITE
/// transaction (§17.2.3), every other method its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MethodKey {
    /// INVITE, or the ACK for a non-2xx final response to it.
    Invite,
    /// Any other method (CANCEL, BYE, OPTIONS, ...).
    Other(Method),
}

impl MethodKey {
    /// Maps ACK onto INVITE.
    pub fn of(method: Method) -> Self {
        match method {
            Method::Invite | Method::Ack => MethodKey::Invite,
            other => MethodKey::Other(other),
        }
    }
}

/// Why a request cannot be matched to a transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A header needed for matching is missing or malformed.
    #[error("cannot match transaction: {0}")]
    BadHeader(&'static str),
}

/// Identifies a server transaction (RFC 3261 §17.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TransactionKey {
    /// RFC 3261 matching: top Via branch + sent-by + method.
    Rfc3261 {
        /// Top Via branch (starts with the magic cookie).
        branch: String,
        /// Top Via sent-by, host lower-cased, `host:port`.
        sent_by: String,
        /// Request method (ACK → INVITE).
        method: MethodKey,
    },
    /// RFC 2543 fallback (no magic cookie): Request-URI, From tag, Call-ID,
    /// CSeq number and top Via. The To tag is left out so that the ACK for
    /// a non-2xx (which carries our To tag) still matches its INVITE.
    Rfc2543 {
        /// Request-URI as text.
        request_uri: String,
        /// From tag ("" when absent).
        from_tag: String,
        /// Call-ID.
        call_id: String,
        /// CSeq sequence number.
        cseq: u32,
        /// The complete top Via value.
        top_via: String,
        /// Request method (ACK → INVITE).
        method: MethodKey,
    },
}

impl TransactionKey {
    /// The key of the server transaction `req` belongs to. Must be computed
    /// on the request as received (before adding `received`/`rport`).
    pub fn for_request(req: &Request) -> Result<Self, KeyError> {
        let via_header = req.via_header().map_err(|_| KeyError::BadHeader("Via"))?;
        let top = via_header
            .first_value()
            .map_err(|_| KeyError::BadHeader("Via"))?;
        let via = top.typed().map_err(|_| KeyError::BadHeader("Via"))?;
        let method = MethodKey::of(req.method);
        match via.branch() {
            Some(branch) if branch.value().starts_with(BRANCH_MAGIC_COOKIE) => {
                let sent_by = via.sent_by();
                let host = sent_by.host.to_string().to_ascii_lowercase();
                let port = sent_by.port.as_ref().map(|p| p.0).unwrap_or(5060);
                Ok(TransactionKey::Rfc3261 {
                    branch: branch.value().to_string(),
                    sent_by: format!("{host}:{port}"),
                    method,
                })
            }
            _ => {
                let from_tag = req
                    .from_header()
                    .ok()
                    .and_then(|f| f.tag().ok().flatten())
                    .map(|t| t.value().to_string())
                    .unwrap_or_default();
                let call_id = req
                    .call_id_header()
                    .map_err(|_| KeyError::BadHeader("Call-ID"))?
                    .value()
                    .trim()
                    .to_string();
                let cseq = req
                    .cseq_header()
                    .ok()
                    .and_then(|c| c.seq().ok())
                    .ok_or(KeyError::BadHeader("CSeq"))?;
                Ok(TransactionKey::Rfc2543 {
                    request_uri: req.uri.to_string(),
                    from_tag,
                    call_id,
                    cseq,
                    top_via: top.value().trim().to_string(),
                    method,
                })
            }
        }
    }

    /// The same key for another method: the INVITE transaction a CANCEL
    /// targets has the CANCEL's key with method INVITE (§9.2, §17.2.3).
    pub fn with_method(&self, method: Method) -> Self {
        let mut key = self.clone();
        match &mut key {
            TransactionKey::Rfc3261 { method: m, .. }
            | TransactionKey::Rfc2543 { method: m, .. } => *m = MethodKey::of(method),
        }
        key
    }

    /// Whether this is an RFC 3261 (magic cookie) key.
    pub fn is_rfc3261(&self) -> bool {
        matches!(self, TransactionKey::Rfc3261 { .. })
    }
}

/// Identifies a client transaction (RFC 3261 §17.1.3): the branch we put
/// in the top Via plus the CSeq method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientTransactionKey {
    /// Our branch parameter.
    pub branch: String,
    /// CSeq method of the request.
    pub method: Method,
}

impl ClientTransactionKey {
    /// The key a response belongs to, from its top Via branch and CSeq
    /// method.
    pub fn for_response(resp: &Response) -> Result<Self, KeyError> {
        let via = resp
            .via_header()
            .ok()
            .and_then(|v| v.first_value().ok())
            .and_then(|v| v.typed().ok())
            .ok_or(KeyError::BadHeader("Via"))?;
        let branch = via
            .branch()
            .ok_or(KeyError::BadHeader("Via branch"))?
            .value()
            .to_string();
        let method = resp
            .cseq_header()
            .ok()
            .and_then(|c| c.method().ok())
            .ok_or(KeyError::BadHeader("CSeq"))?;
        Ok(Self { branch, method })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, via: &str, cseq: &str) -> Request {
        let text = format!(
            "{method} sip:bob@example.com SIP/2.0\r\nVia: {via}\r\nFrom: <sip:a@x>;tag=ft\r\nTo: <sip:bob@example.com>\r\nCall-ID: cid\r\nCSeq: {cseq}\r\nContent-Length: 0\r\n\r\n"
        );
        Request::try_from(text.as_str()).unwrap()
    }

    #[test]
    fn rfc3261_ack_and_invite_share_key_cancel_differs() {
        let via = "SIP/2.0/UDP Host.example:5070;branch=z9hG4bKabc";
        let inv = TransactionKey::for_request(&req("INVITE", via, "1 INVITE")).unwrap();
        let ack = TransactionKey::for_request(&req("ACK", via, "1 ACK")).unwrap();
        let cancel = TransactionKey::for_request(&req("CANCEL", via, "1 CANCEL")).unwrap();
        assert_eq!(inv, ack);
        assert_ne!(inv, cancel);
        assert_eq!(cancel.with_method(Method::Invite), inv);
        assert!(inv.is_rfc3261());
        match inv {
            TransactionKey::Rfc3261 { sent_by, .. } => assert_eq!(sent_by, "host.example:5070"),
            _ => unreachable!(),
        }
    }

    #[test]
    fn rfc3261_different_branch_or_sent_by_differs() {
        let a = TransactionKey::for_request(&req("BYE", "SIP/2.0/UDP h;branch=z9hG4bK1", "2 BYE"))
            .unwrap();
        let b = TransactionKey::for_request(&req("BYE", "SIP/2.0/UDP h;branch=z9hG4bK2", "2 BYE"))
            .unwrap();
        let c = TransactionKey::for_request(&req("BYE", "SIP/2.0/UDP g;branch=z9hG4bK1", "2 BYE"))
            .unwrap();
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn rfc2543_fallback_without_cookie() {
        let via = "SIP/2.0/UDP h:5060;branch=oldstyle";
        let inv = TransactionKey::for_request(&req("INVITE", via, "7 INVITE")).unwrap();
        assert!(!inv.is_rfc3261());
        let ack = TransactionKey::for_request(&req("ACK", via, "7 ACK")).unwrap();
        assert_eq!(inv, ack);
        let other_cseq = TransactionKey::for_request(&req("INVITE", via, "8 INVITE")).unwrap();
        assert_ne!(inv, other_cseq);
        let no_branch =
            TransactionKey::for_request(&req("OPTIONS", "SIP/2.0/UDP h", "1 OPTIONS")).unwrap();
        assert!(!no_branch.is_rfc3261());
    }

    #[test]
    fn client_key_from_response() {
        let text = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP me:5060;branch=z9hG4bKme;rport=5060\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: c\r\nCSeq: 5 BYE\r\nContent-Length: 0\r\n\r\n";
        let resp = Response::try_from(text).unwrap();
        let key = ClientTransactionKey::for_response(&resp).unwrap();
        assert_eq!(
            key,
            ClientTransactionKey {
                branch: "z9hG4bKme".into(),
                method: Method::Bye
            }
        );
    }
}
