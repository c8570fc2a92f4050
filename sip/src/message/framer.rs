//! Framing SIP messages on a stream transport (TCP): RFC 3261 §18.3 —
//! Content-Length is mandatory and delimits the body; CRLFs before a start
//! line are ignored (RFC 3261 §7.5), which also swallows RFC 5626 §3.5.1
//! double-CRLF keep-alives.

use super::grammar::{is_wsp, parse_decimal};
use super::headers::{classify_name, Known};
use super::MAX_SIP_MESSAGE_BYTES;

/// Bytes a framer buffers at most: one whole message plus one more read.
/// A driver that calls [`StreamFramer::next_message`] until it returns
/// `Ok(None)` after every [`StreamFramer::push`] of at most
/// [`MAX_SIP_MESSAGE_BYTES`] never reaches it with valid traffic.
pub const MAX_STREAM_BUFFER_BYTES: usize = 2 * MAX_SIP_MESSAGE_BYTES;

/// Why a stream can no longer be framed. Every variant is final: the
/// connection has lost message boundaries and should be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// A message (or the buffered bytes) exceeds the size limit.
    #[error("message exceeds {limit} bytes")]
    TooLarge { limit: usize },
    /// A message without Content-Length (mandatory on streams, RFC 3261 §18.3).
    #[error("message without Content-Length on a stream transport (RFC 3261 §18.3)")]
    MissingContentLength,
    /// Content-Length is not a number, or several disagree.
    #[error("invalid Content-Length on a stream transport")]
    InvalidContentLength,
}

/// Cuts a TCP byte stream into SIP messages. Work per pushed byte is
/// constant: the search for the end of the header section resumes where it
/// stopped, so a peer trickling one byte at a time costs no rescans.
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
    overflowed: bool,
    failed: Option<FramingError>,
    /// Where the search for the empty line resumes (a line start).
    scan_from: usize,
    /// Length of the message at the head of `buf`, once its header
    /// section is complete.
    message_len: Option<usize>,
}

impl StreamFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the stream. Bytes beyond
    /// [`MAX_STREAM_BUFFER_BYTES`] are discarded and make the next
    /// [`next_message`](Self::next_message) fail once the complete messages
    /// before them are taken.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_some() || self.overflowed {
            return;
        }
        if self.buf.len() + bytes.len() > MAX_STREAM_BUFFER_BYTES {
            self.overflowed = true;
            return;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, `Ok(None)` when more bytes are needed.
    /// After an error every later call returns the same error.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.frame() {
            Ok(Some(len)) => {
                self.scan_from = 0;
                self.message_len = None;
                Ok(Some(self.buf.drain(..len).collect()))
            }
            Ok(None) if self.overflowed => self.fail(FramingError::TooLarge {
                limit: MAX_SIP_MESSAGE_BYTES,
            }),
            Ok(None) => Ok(None),
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, e: FramingError) -> Result<Option<Vec<u8>>, FramingError> {
        self.buf = Vec::new();
        self.failed = Some(e.clone());
        Err(e)
    }

    /// Drops leading CR/LF, then measures the first message.
    fn frame(&mut self) -> Result<Option<usize>, FramingError> {
        if let Some(total) = self.message_len {
            return Ok((self.buf.len() >= total).then_some(total));
        }
        if self.scan_from == 0 {
            let lead = self
                .buf
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            self.buf.drain(..lead);
        }
        let too_large = FramingError::TooLarge {
            limit: MAX_SIP_MESSAGE_BYTES,
        };
        let head_len = match header_section_len(&self.buf, self.scan_from) {
            Ok(len) => len,
            Err(resume) => {
                self.scan_from = resume;
                return if self.buf.len() > MAX_SIP_MESSAGE_BYTES {
                    Err(too_large)
                } else {
                    Ok(None)
                };
            }
        };
        let length = content_length(&self.buf[..head_len])?;
        let total = u64::try_from(head_len)
            .ok()
            .and_then(|h| h.checked_add(length))
            .filter(|t| *t <= MAX_SIP_MESSAGE_BYTES as u64)
            .ok_or(too_large)? as usize;
        self.message_len = Some(total);
        Ok((self.buf.len() >= total).then_some(total))
    }
}

/// The Content-Length of a complete header section: every Content-Length
/// (or `l`) field must hold the same number (RFC 3261 §20.14, §18.3).
/// Fields are scanned without the per-message field limit, which the
/// classifier enforces afterwards.
fn content_length(head: &[u8]) -> Result<u64, FramingError> {
    let mut length: Option<u64> = None;
    let mut lines = head.split(|&b| b == b'\n').skip(1).peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if line.first().is_some_and(|&b| is_wsp(b))
            || classify_name(trim(&line[..colon])) != Known::ContentLength
        {
            continue;
        }
        let mut value = trim(&line[colon + 1..]).to_vec();
        // Folded continuation lines belong to the value.
        while let Some(next) = lines.next_if(|l| l.first().is_some_and(|&b| is_wsp(b))) {
            value.push(b' ');
            value.extend_from_slice(trim(next.strip_suffix(b"\r").unwrap_or(next)));
        }
        let v = std::str::from_utf8(&value).map_err(|_| FramingError::InvalidContentLength)?;
        let n = parse_decimal(v.trim(), 19).ok_or(FramingError::InvalidContentLength)?;
        if length.is_some_and(|l| l != n) {
            return Err(FramingError::InvalidContentLength);
        }
        length = Some(n);
    }
    length.ok_or(FramingError::MissingContentLength)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_wsp(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_wsp(b)).map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// Length of the start line and header section including the empty line
/// that ends it (CRLF CRLF, or bare LFs), searching from `from` (a line
/// start). `Err(resume)` gives the start of the last, incomplete line.
fn header_section_len(buf: &[u8], from: usize) -> Result<usize, usize> {
    let mut pos = from;
    while let Some(nl) = buf
        .get(pos..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
    {
        let line_end = pos + nl;
        let line = &buf[pos..line_end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() && pos > 0 {
            return Ok(line_end + 1);
        }
        pos = line_end + 1;
    }
    Err(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_section_length() {
        assert_eq!(header_section_len(b"A\r\nB: c\r\n\r\nbody", 0), Ok(11));
        assert_eq!(header_section_len(b"A\nB: c\n\nbody", 0), Ok(8));
        assert_eq!(header_section_len(b"A\r\nB: c\r\nD", 0), Err(9));
        assert_eq!(header_section_len(b"A\r\nB: c\r\n\r\n", 9), Ok(11));
    }

    #[test]
    fn content_length_scan() {
        assert_eq!(content_length(b"A\r\nl:  12 \r\n\r\n"), Ok(12));
        assert_eq!(
            content_length(b"A\r\nContent-Length:\r\n  7\r\nX: 1\r\n\r\n"),
            Ok(7)
        );
        assert_eq!(
            content_length(b"A\r\nContent-Length: 1\r\nl: 2\r\n\r\n"),
            Err(FramingError::InvalidContentLength)
        );
        assert_eq!(
            content_length(b"A\r\nX-Content-Length: 1\r\n\r\n"),
            Err(FramingError::MissingContentLength)
        );
    }
}
