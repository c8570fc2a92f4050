//! Where responses go: RFC 3261 §18.2.1 (`received`), §18.2.2 and
//! RFC 3581 §4 (`rport`).

use std::net::IpAddr;

use rsipstack::sip::{Header, Request};

use super::{split_params, Peer, Transport};

/// Default SIP port for UDP and TCP (RFC 3261 §19.1.2).
pub(crate) const DEFAULT_SIP_PORT: u16 = 5060;

/// The sent-by of a Via value (`SIP/2.0/UDP host[:port];params`):
/// (host, port).
fn sent_by(first_segment: &str) -> Option<(&str, Option<u16>)> {
    let (_, hostport) = first_segment.trim().split_once(char::is_whitespace)?;
    let hostport = hostport.trim();
    if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return Some((host, port));
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) => Some((h, p.parse().ok())),
        None => Some((hostport, None)),
    }
}

/// Adds `received` to the top Via when its sent-by host is not the source
/// IP (§18.2.1) or when it has `rport`, and fills `rport` with the source
/// port (RFC 3581 §4: both are set even if identical to sent-by), then returns where responses to this request go (§18.2.2): over
/// TCP the same connection; over UDP the source IP and, with `rport`, the
/// source port, otherwise the sent-by port (default 5060).
pub(crate) fn annotate_top_via(req: &mut Request, source: Peer) -> Peer {
    let Some(via) = req.headers.iter_mut().find_map(|h| match h {
        Header::Via(v) => Some(v),
        _ => None,
    }) else {
        return source;
    };
    let value = via.value().to_string();
    let segments = split_params(&value);
    let Some((host, port)) = segments.first().and_then(|s| sent_by(s)) else {
        return source;
    };
    let host_is_source = host
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip == source.addr.ip());
    let mut rport = false;
    let mut out = segments[0].to_string();
    for p in &segments[1..] {
        let name = p.split('=').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("received") {
            continue;
        }
        if name.eq_ignore_ascii_case("rport") {
            rport = true;
            out.push_str(&format!(";rport={}", source.addr.port()));
            continue;
        }
        out.push(';');
        out.push_str(p);
    }
    if !host_is_source || rport {
        out.push_str(&format!(";received={}", source.addr.ip()));
    }
    via.replace(out);
    match source.transport {
        Transport::Tcp => source,
        Transport::Udp => {
            let port = if rport {
                source.addr.port()
            } else {
                port.unwrap_or(DEFAULT_SIP_PORT)
            };
            Peer {
                addr: std::net::SocketAddr::new(source.addr.ip(), port),
                ..source
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsipstack::sip::prelude::HeadersExt;

    fn req(via: &str) -> Request {
        let text = format!(
            "OPTIONS sip:a@b SIP/2.0\r\nVia: {via}\r\nVia: SIP/2.0/UDP second;branch=z9hG4bK2\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        Request::try_from(text.as_str()).unwrap()
    }

    fn udp(addr: &str) -> Peer {
        Peer {
            transport: Transport::Udp,
            addr: addr.parse().unwrap(),
            conn: None,
        }
    }

    #[test]
    fn rport_is_filled_and_received_added() {
        let mut r = req("SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK1;rport");
        let to = annotate_top_via(&mut r, udp("198.51.100.7:40000"));
        assert_eq!(
            r.via_header().unwrap().value(),
            "SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK1;rport=40000;received=198.51.100.7"
        );
        assert_eq!(to.addr, "198.51.100.7:40000".parse().unwrap());
    }

    #[test]
    fn same_ip_without_rport_uses_sent_by_port() {
        let mut r = req("SIP/2.0/UDP 198.51.100.7:5070;branch=z9hG4bK1");
        let to = annotate_top_via(&mut r, udp("198.51.100.7:40000"));
        assert_eq!(
            r.via_header().unwrap().value(),
            "SIP/2.0/UDP 198.51.100.7:5070;branch=z9hG4bK1"
        );
        assert_eq!(to.addr, "198.51.100.7:5070".parse().unwrap());
    }

    #[test]
    fn rport_always_comes_with_received() {
        let mut r = req("SIP/2.0/UDP 198.51.100.7:5070;rport;branch=z9hG4bK1");
        let to = annotate_top_via(&mut r, udp("198.51.100.7:5070"));
        assert_eq!(
            r.via_header().unwrap().value(),
            "SIP/2.0/UDP 198.51.100.7:5070;rport=5070;branch=z9hG4bK1;received=198.51.100.7"
        );
        assert_eq!(to.addr, "198.51.100.7:5070".parse().unwrap());
    }

    #[test]
    fn host_name_gets_received_and_default_port() {
        let mut r = req("SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1");
        let to = annotate_top_via(&mut r, udp("192.0.2.4:6000"));
        assert!(r
            .via_header()
            .unwrap()
            .value()
            .ends_with(";received=192.0.2.4"));
        assert_eq!(to.addr, "192.0.2.4:5060".parse().unwrap());
    }

    #[test]
    fn tcp_replies_on_the_connection() {
        let mut r = req("SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bK1");
        let src = Peer {
            transport: Transport::Tcp,
            addr: "[2001:db8::1]:50000".parse().unwrap(),
            conn: Some(super::super::ConnId(3)),
        };
        let to = annotate_top_via(&mut r, src);
        assert_eq!(to, src);
        assert_eq!(
            r.via_header().unwrap().value(),
            "SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bK1"
        );
    }
}
