//! RFC 3263 server location against a real (local) DNS server: a UDP
//! nameserver on 127.0.0.1 answering from a fixed zone with real DNS
//! messages (hickory's wire format), and logging every question, so the
//! tests see which queries `TrunkResolver` made and in what order.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_resolver::proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, NAPTR, SRV};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use parla_sip::resolve::{ResolveError, ServerLocation, ServerTarget, SipTransport, TrunkResolver};

type Zone = HashMap<(String, RecordType), Vec<RData>>;

/// A nameserver on 127.0.0.1 serving `zone`; every question is logged.
struct Nameserver {
    addr: SocketAddr,
    questions: Arc<Mutex<Vec<(String, RecordType)>>>,
}

impl Nameserver {
    fn start(zone: Zone) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let questions = Arc::new(Mutex::new(Vec::new()));
        let log = questions.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    return;
                };
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let mut reply = Message::response(query.metadata.id, OpCode::Query);
                reply.metadata.recursion_desired = query.metadata.recursion_desired;
                reply.metadata.recursion_available = true;
                reply.metadata.authoritative = true;
                let mut found = false;
                for q in &query.queries {
                    let name = q.name.to_ascii().to_lowercase();
                    log.lock().unwrap().push((name.clone(), q.query_type));
                    reply.add_query(q.clone());
                    if let Some(answers) = zone.get(&(name.clone(), q.query_type)) {
                        for rdata in answers {
                            reply.add_answer(Record::from_rdata(q.name.clone(), 60, rdata.clone()));
                        }
                    }
                    found |= zone.keys().any(|(n, _)| *n == name);
                }
                if !found {
                    reply.metadata.response_code = ResponseCode::NXDomain;
                }
                reply.metadata.message_type = MessageType::Response;
                if let Ok(bytes) = reply.to_vec() {
                    let _ = socket.send_to(&bytes, from);
                }
            }
        });
        Nameserver { addr, questions }
    }

    fn questions(&self) -> Vec<(String, RecordType)> {
        self.questions.lock().unwrap().clone()
    }
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn a(ip: [u8; 4]) -> RData {
    RData::A(A(Ipv4Addr::from(ip)))
}

fn srv(priority: u16, port: u16, target: &str) -> RData {
    RData::SRV(SRV::new(priority, 0, port, name(target)))
}

fn naptr(order: u16, preference: u16, service: &str, replacement: &str) -> RData {
    RData::NAPTR(NAPTR::new(
        order,
        preference,
        b"s".to_vec().into_boxed_slice(),
        service.as_bytes().to_vec().into_boxed_slice(),
        Box::new([]),
        name(replacement),
    ))
}

fn zone(entries: Vec<(&str, RecordType, Vec<RData>)>) -> Zone {
    entries
        .into_iter()
        .map(|(n, t, r)| ((n.to_owned(), t), r))
        .collect()
}

fn location(host: &str) -> ServerLocation {
    ServerLocation {
        host: host.into(),
        port: None,
        transport: None,
        secure: false,
    }
}

fn target(ip: [u8; 4], port: u16, transport: SipTransport) -> ServerTarget {
    ServerTarget {
        addr: SocketAddr::from((ip, port)),
        transport,
    }
}

#[tokio::test]
async fn naptr_then_srv_then_a_in_rfc_3263_order() {
    let ns = Nameserver::start(zone(vec![
        (
            "trunk.example.",
            RecordType::NAPTR,
            vec![
                // Listed out of order, and one we can't use (flag "u"-less
                // service we don't speak).
                naptr(20, 10, "SIP+D2U", "_sip._udp.trunk.example."),
                naptr(10, 10, "SIP+D2T", "_sip._tcp.trunk.example."),
                naptr(10, 5, "SIP+D2W", "_sip._ws.trunk.example."),
            ],
        ),
        (
            "_sip._tcp.trunk.example.",
            RecordType::SRV,
            vec![
                srv(20, 5080, "b.trunk.example."),
                srv(10, 5070, "a.trunk.example."),
            ],
        ),
        (
            "_sip._udp.trunk.example.",
            RecordType::SRV,
            vec![srv(10, 5090, "c.trunk.example.")],
        ),
        ("a.trunk.example.", RecordType::A, vec![a([127, 0, 0, 2])]),
        ("b.trunk.example.", RecordType::A, vec![a([127, 0, 0, 3])]),
        ("c.trunk.example.", RecordType::A, vec![a([127, 0, 0, 4])]),
    ]));
    let resolver = TrunkResolver::with_nameserver(ns.addr);
    let targets = resolver.resolve(&location("trunk.example")).await.unwrap();
    assert_eq!(
        targets,
        vec![
            target([127, 0, 0, 2], 5070, SipTransport::Tcp),
            target([127, 0, 0, 3], 5080, SipTransport::Tcp),
            target([127, 0, 0, 4], 5090, SipTransport::Udp),
        ]
    );
    let asked = ns.questions();
    assert_eq!(asked[0], ("trunk.example.".into(), RecordType::NAPTR));
    assert!(
        !asked.iter().any(|(n, _)| n.contains("_ws")),
        "a service we don't speak is not followed: {asked:?}"
    );
}

#[tokio::test]
async fn without_naptr_srv_is_tried_per_transport_then_a() {
    let ns = Nameserver::start(zone(vec![
        ("srv-only.example.", RecordType::A, vec![a([127, 0, 0, 9])]),
        (
            "_sip._tcp.srv-only.example.",
            RecordType::SRV,
            vec![srv(10, 5070, "pbx.srv-only.example.")],
        ),
        (
            "pbx.srv-only.example.",
            RecordType::A,
            vec![a([127, 0, 0, 5])],
        ),
        ("plain.example.", RecordType::A, vec![a([127, 0, 0, 6])]),
    ]));
    let resolver = TrunkResolver::with_nameserver(ns.addr);
    assert_eq!(
        resolver
            .resolve(&location("srv-only.example"))
            .await
            .unwrap(),
        vec![target([127, 0, 0, 5], 5070, SipTransport::Tcp)]
    );
    // No NAPTR, no SRV: A with 5060 over UDP.
    assert_eq!(
        resolver.resolve(&location("plain.example")).await.unwrap(),
        vec![target([127, 0, 0, 6], 5060, SipTransport::Udp)]
    );
    // sips: only _sips._tcp is asked, and A falls back to 5061 over TLS.
    let mut secure = location("plain.example");
    secure.secure = true;
    assert_eq!(
        resolver.resolve(&secure).await.unwrap(),
        vec![target([127, 0, 0, 6], 5061, SipTransport::Tls)]
    );
    let asked = ns.questions();
    assert!(asked.contains(&("_sips._tcp.plain.example.".into(), RecordType::SRV)));
    assert!(
        !asked
            .iter()
            .skip_while(|(n, t)| !(n == "_sips._tcp.plain.example." && *t == RecordType::SRV))
            .any(|(n, _)| n.starts_with("_sip._")),
        "a sips: URI never asks for plain SIP services: {asked:?}"
    );
}

#[tokio::test]
async fn an_explicit_port_or_an_ip_skips_naptr_and_srv() {
    let ns = Nameserver::start(zone(vec![
        (
            "pbx.example.",
            RecordType::NAPTR,
            vec![naptr(10, 10, "SIP+D2T", "_sip._tcp.pbx.example.")],
        ),
        ("pbx.example.", RecordType::A, vec![a([127, 0, 0, 7])]),
    ]));
    let resolver = TrunkResolver::with_nameserver(ns.addr);
    let mut with_port = location("pbx.example");
    with_port.port = Some(5999);
    assert_eq!(
        resolver.resolve(&with_port).await.unwrap(),
        vec![target([127, 0, 0, 7], 5999, SipTransport::Udp)]
    );
    assert!(
        ns.questions()
            .iter()
            .all(|(_, t)| matches!(t, RecordType::A | RecordType::AAAA)),
        "{:?}",
        ns.questions()
    );
    let before = ns.questions().len();
    let mut literal = location("192.0.2.10");
    literal.transport = Some(SipTransport::Tcp);
    assert_eq!(
        resolver.resolve(&literal).await.unwrap(),
        vec![target([192, 0, 2, 10], 5060, SipTransport::Tcp)]
    );
    assert_eq!(
        resolver.resolve(&location("[::1]")).await.unwrap()[0].addr,
        "[::1]:5060".parse().unwrap()
    );
    assert_eq!(ns.questions().len(), before, "IP literals need no DNS");
}

#[tokio::test]
async fn unknown_names_and_dead_nameservers_fail_clearly_and_in_time() {
    let ns = Nameserver::start(zone(vec![]));
    let resolver = TrunkResolver::with_nameserver(ns.addr);
    let err = resolver
        .resolve(&location("nowhere.example"))
        .await
        .unwrap_err();
    assert!(matches!(err, ResolveError::NotFound { .. }), "{err:?}");
    assert_eq!(err.cause(), "dns_not_found");

    // A nameserver that never answers: a bounded wait, then an error.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let resolver = TrunkResolver::with_nameserver(silent.local_addr().unwrap())
        .with_timeout(Duration::from_secs(2));
    let started = Instant::now();
    let err = resolver
        .resolve(&location("trunk.example"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ResolveError::Timeout { .. } | ResolveError::Dns { .. }),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // Hostile host strings never reach DNS.
    let err = resolver
        .resolve(&location("trunk.example\r\nVia: evil"))
        .await
        .unwrap_err();
    assert_eq!(err.cause(), "dns_bad_host");
}
