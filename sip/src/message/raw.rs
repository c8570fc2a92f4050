//! Splitting a message into start line, header fields and body
//! (RFC 3261 §7, §7.3.1), without judging the field values.
//!
//! The same pass serves the strict parser (which refuses the message on the
//! first recorded error) and the tolerant scan that digs out Via, From, To,
//! Call-ID and CSeq to answer a broken request with 400.

use super::grammar::{is_token_char, is_wsp, Syntax};

/// Header fields kept per message; beyond this the message is refused
/// (a Via chain as long as Max-Forwards' usual 70 fits many times over).
pub const MAX_HEADER_FIELDS: usize = 256;

/// One header field: its name as written and its value unfolded (each fold
/// replaced by one SP) and trimmed.
#[derive(Debug, Clone)]
pub(crate) struct RawField<'a> {
    pub name: &'a [u8],
    pub value: Vec<u8>,
}

#[derive(Debug)]
pub(crate) struct RawMessage<'a> {
    pub start_line: &'a [u8],
    pub fields: Vec<RawField<'a>>,
    /// Offset of the body in the input; `None` when no empty line ended the
    /// header section.
    pub body_start: Option<usize>,
    /// The first framing or header-line error met, if any.
    pub error: Option<Syntax>,
}

/// Lines end at LF; a CR right before it is dropped (bare-LF line ends are
/// accepted, as most stacks do).
fn next_line(bytes: &[u8], pos: usize) -> Option<(&[u8], usize, bool)> {
    if pos >= bytes.len() {
        return None;
    }
    let rest = &bytes[pos..];
    match rest.iter().position(|&b| b == b'\n') {
        Some(nl) => {
            let line = &rest[..nl];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            Some((line, pos + nl + 1, true))
        }
        None => Some((rest, bytes.len(), false)),
    }
}

fn trim_wsp(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if is_wsp(*first) {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if is_wsp(*last) {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// Splits `bytes` (which must not start with CR/LF) into its parts.
pub(crate) fn split(bytes: &[u8]) -> RawMessage<'_> {
    let mut msg = RawMessage {
        start_line: &[],
        fields: Vec::new(),
        body_start: None,
        error: None,
    };
    let fail = |msg: &mut RawMessage<'_>, e: &'static str| {
        if msg.error.is_none() {
            msg.error = Some(Syntax(e));
        }
    };
    let Some((start, mut pos, terminated)) = next_line(bytes, 0) else {
        fail(&mut msg, "empty message");
        return msg;
    };
    msg.start_line = start;
    if !terminated {
        fail(&mut msg, "message ends inside the start line");
        return msg;
    }
    while let Some((line, next, terminated)) = next_line(bytes, pos) {
        pos = next;
        if line.is_empty() {
            if terminated {
                msg.body_start = Some(pos);
                return msg;
            }
            break;
        }
        if line.contains(&b'\r') {
            fail(&mut msg, "bare CR in header section");
        }
        if is_wsp(line[0]) {
            // A continuation line (RFC 3261 §7.3.1): fold into the previous value.
            match msg.fields.last_mut() {
                Some(f) => {
                    let more = trim_wsp(line);
                    if !more.is_empty() {
                        if !f.value.is_empty() {
                            f.value.push(b' ');
                        }
                        f.value.extend_from_slice(more);
                    }
                }
                None => fail(&mut msg, "continuation line before the first header field"),
            }
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            fail(&mut msg, "header line without a colon");
            continue;
        };
        let name = trim_wsp(&line[..colon]);
        if name.is_empty() || !name.iter().all(|&b| is_token_char(b)) {
            fail(&mut msg, "invalid header field name");
        }
        if msg.fields.len() >= MAX_HEADER_FIELDS {
            fail(&mut msg, "too many header fields");
            continue;
        }
        msg.fields.push(RawField {
            name,
            value: trim_wsp(&line[colon + 1..]).to_vec(),
        });
    }
    fail(&mut msg, "header section not ended by an empty line");
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_unfolded_and_body_located() {
        let m = split(b"INVITE sip:a@b SIP/2.0\r\ncseq: 0009\r\n  INVITE\r\nX:\r\n\r\nbody");
        assert_eq!(m.start_line, b"INVITE sip:a@b SIP/2.0");
        assert_eq!(m.fields[0].value, b"0009 INVITE");
        assert_eq!(m.fields[1].value, b"");
        assert_eq!(m.body_start, Some(52));
        assert!(m.error.is_none());
    }

    #[test]
    fn missing_empty_line_and_colonless_lines_are_errors_but_fields_survive() {
        let m = split(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\nFoobar roobar\r\nl: 0\r\n");
        assert_eq!(m.fields.len(), 2);
        assert_eq!(m.error, Some(Syntax("header line without a colon")));
        assert_eq!(m.body_start, None);
    }
}
