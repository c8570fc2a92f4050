//! The query parameters, authentication and audio decoding of a
//! `/v1/listen` request, and the error responses of a refused upgrade.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Encoding {
    Linear16,
    Mulaw,
    Alaw,
}

#[derive(Debug, Clone)]
pub(super) struct Params {
    pub(super) encoding: Encoding,
    pub(super) sample_rate: u32,
    pub(super) channels: usize,
    pub(super) interim_results: bool,
    /// None: endpointing disabled.
    pub(super) endpointing: Option<Duration>,
    pub(super) utterance_end: Option<Duration>,
    pub(super) vad_events: bool,
}

pub(super) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(kv), String::new()),
        })
        .collect()
}

pub(super) fn parse_params(query: &[(String, String)]) -> Result<Params, String> {
    let get = |k: &str| {
        query
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    let flag = |k: &str| -> Result<bool, String> {
        match get(k) {
            None => Ok(false),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(v) => Err(format!(
                "Invalid value for '{k}': '{v}' (expected true or false)"
            )),
        }
    };
    let encoding = match get("encoding") {
        Some("linear16") => Encoding::Linear16,
        Some("mulaw") => Encoding::Mulaw,
        Some("alaw") => Encoding::Alaw,
        Some(other) => {
            return Err(format!("encoding '{other}' is not supported by this local mock (use linear16, mulaw or alaw)"))
        }
        None => {
            return Err("containerized audio (no 'encoding') is not supported by this local mock: pass encoding and sample_rate".into())
        }
    };
    let sample_rate = match get("sample_rate").map(str::parse::<u32>) {
        Some(Ok(r)) if (1000..=192_000).contains(&r) => r,
        Some(_) => return Err("Invalid value for 'sample_rate'".into()),
        None => return Err("'sample_rate' is required when 'encoding' is set".into()),
    };
    let channels = match get("channels").map(str::parse::<usize>) {
        None => 1,
        Some(Ok(c)) if (1..=32).contains(&c) => c,
        Some(_) => return Err("Invalid value for 'channels'".into()),
    };
    let endpointing = match get("endpointing") {
        None => Some(Duration::from_millis(10)),
        Some("false") => None,
        Some("true") => Some(Duration::from_millis(10)),
        Some(v) => match v.parse::<u64>() {
            Ok(ms) => Some(Duration::from_millis(ms)),
            Err(_) => return Err(format!("Invalid value for 'endpointing': '{v}'")),
        },
    };
    let utterance_end = match get("utterance_end_ms") {
        None => None,
        Some(v) => match v.parse::<u64>() {
            Ok(ms) if ms >= 1000 => Some(Duration::from_millis(ms)),
            _ => {
                return Err(format!(
                    "Invalid value for 'utterance_end_ms': '{v}' (at least 1000)"
                ))
            }
        },
    };
    Ok(Params {
        encoding,
        sample_rate,
        channels,
        interim_results: flag("interim_results")?,
        endpointing,
        utterance_end,
        vad_events: flag("vad_events")?,
    })
}

pub(super) fn refuse(
    status: StatusCode,
    request_id: &str,
    err_code: &str,
    err_msg: &str,
) -> ErrorResponse {
    let body =
        json!({"err_code": err_code, "err_msg": err_msg, "request_id": request_id}).to_string();
    let mut resp = ErrorResponse::new(Some(body.clone()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("dg-request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&body) {
        h.insert("dg-error", v);
    }
    resp
}

/// The key a client presented: `Authorization: Token KEY`, or the
/// WebSocket subprotocol form `token, KEY`. (`Some(true)` when the key came
/// as a subprotocol, which must then be echoed.)
pub(super) fn presented_key(req: &Request) -> Option<(String, bool)> {
    if let Some(auth) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, key) = auth.trim().split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("token")
            .then(|| (key.trim().to_string(), false));
    }
    let protos = req.headers().get("sec-websocket-protocol")?.to_str().ok()?;
    let parts: Vec<&str> = protos.split(',').map(str::trim).collect();
    match parts.as_slice() {
        ["token", key, ..] => Some((key.to_string(), true)),
        _ => None,
    }
}

// -------------------------------------------------------------- connection

pub(super) fn decode_audio(
    enc: Encoding,
    channels: usize,
    data: &[u8],
    carry: &mut Vec<u8>,
) -> Vec<i16> {
    let bytes_per_sample = if enc == Encoding::Linear16 { 2 } else { 1 };
    let frame = bytes_per_sample * channels;
    carry.extend_from_slice(data);
    let usable = carry.len() / frame * frame;
    let out = carry[..usable]
        .chunks_exact(frame)
        .map(|f| match enc {
            Encoding::Linear16 => i16::from_le_bytes([f[0], f[1]]),
            Encoding::Mulaw => mulaw_to_linear(f[0]),
            Encoding::Alaw => alaw_to_linear(f[0]),
        })
        .collect();
    carry.drain(..usable);
    out
}

pub(super) fn mulaw_to_linear(u: u8) -> i16 {
    let u = !u;
    let t = ((((u & 0x0f) as i32) << 3) + 0x84) << ((u & 0x70) >> 4);
    (if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
}

pub(super) fn alaw_to_linear(a: u8) -> i16 {
    let a = a ^ 0x55;
    let mut t = ((a & 0x0f) as i32) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => t = (t + 0x108) << (seg - 1),
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

/// An ISO-8601 UTC timestamp with milliseconds, like Deepgram's `created`.
pub(super) fn iso_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_decoders() {
        assert_eq!(mulaw_to_linear(0xff), 0);
        assert_eq!(mulaw_to_linear(0x00), -32124);
        assert_eq!(mulaw_to_linear(0x80), 32124);
        assert_eq!(alaw_to_linear(0xd5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xaa), 32256);
    }

    #[test]
    fn query_and_params() {
        let q = parse_query(Some("encoding=linear16&sample_rate=8000&interim_results=true&endpointing=300&keywords=a%20b"));
        assert_eq!(q[4], ("keywords".to_string(), "a b".to_string()));
        let p = parse_params(&q).unwrap();
        assert_eq!(p.sample_rate, 8000);
        assert!(p.interim_results);
        assert_eq!(p.endpointing, Some(Duration::from_millis(300)));
        assert!(parse_params(&parse_query(Some("encoding=opus&sample_rate=8000"))).is_err());
        assert!(parse_params(&parse_query(Some("encoding=linear16"))).is_err());
    }

    #[test]
    fn iso_timestamp_shape() {
        let t = iso_now();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.ends_with('Z') && t.starts_with("20"));
    }
}
