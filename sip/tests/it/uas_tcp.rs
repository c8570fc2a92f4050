//! `SipServer` driven by raw tokio sockets: TCP calls (BYE both ways,
//! keep-alive), and UDP behaviours (dropped handle → 480, draining → 503,
//! malformed → 400).

use std::net::SocketAddr;
use std::time::Duration;

use parla_sip::message::StreamFramer;
use parla_sip::server::{CallEvent, IncomingCall, SipServer, SipServerConfig};
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Request, Response, SipMessage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::timeout;

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
const WAIT: Duration = Duration::from_secs(5);

async fn server() -> (SipServer, mpsc::Receiver<IncomingCall>) {
    let config = SipServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        public_ip: Some("127.0.0.1".parse().unwrap()),
        ..SipServerConfig::default()
    };
    SipServer::bind(config).await.expect("bind")
}

#[allow(clippy::too_many_arguments)] // a test helper mirroring the header fields
fn request(
    method: &str,
    transport: &str,
    local: SocketAddr,
    call_id: &str,
    branch: &str,
    cseq: u32,
    to_tag: Option<&str>,
    body: &str,
) -> String {
    let to = match to_tag {
        Some(t) => format!("<sip:agent@127.0.0.1>;tag={t}"),
        None => "<sip:agent@127.0.0.1>".into(),
    };
    let ctype = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".into()
    };
    format!(
        "{method} sip:agent@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/{transport} {local};branch={branch};rport\r\nMax-Forwards: 70\r\nFrom: <sip:caller@127.0.0.1>;tag=ct\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:caller@{local};transport={}>\r\n{ctype}Content-Length: {}\r\n\r\n{body}",
        transport.to_ascii_lowercase(),
        body.len()
    )
}

struct TcpClient {
    stream: TcpStream,
    framer: StreamFramer,
}

impl TcpClient {
    async fn connect(to: SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(to).await.unwrap(),
            framer: StreamFramer::new(),
        }
    }

    fn local(&self) -> SocketAddr {
        self.stream.local_addr().unwrap()
    }

    async fn send(&mut self, msg: &str) {
        self.stream.write_all(msg.as_bytes()).await.unwrap();
    }

    async fn recv(&mut self) -> SipMessage {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(m) = self.framer.next_message().unwrap() {
                return SipMessage::try_from(m).unwrap();
            }
            let n = timeout(WAIT, self.stream.read(&mut buf))
                .await
                .expect("read timeout")
                .unwrap();
            assert!(n > 0, "server closed the connection");
            self.framer.push(&buf[..n]);
        }
    }

    async fn recv_response(&mut self) -> Response {
        match self.recv().await {
            SipMessage::Response(r) => r,
            SipMessage::Request(r) => panic!("expected a response, got {}", r.method),
        }
    }
}

fn tag(resp: &Response) -> String {
    let v = resp.to_header().unwrap().value().to_string();
    v.rsplit_once("tag=").unwrap().1.to_string()
}

async fn next_event(call: &mut IncomingCall) -> CallEvent {
    timeout(WAIT, call.events.recv())
        .await
        .expect("event timeout")
        .expect("event")
}

/// TCP INVITE answered by the app, ACKed; returns (client, call, our tag).
async fn tcp_confirmed(
    server: &SipServer,
    calls: &mut mpsc::Receiver<IncomingCall>,
    call_id: &str,
) -> (TcpClient, IncomingCall, String) {
    let mut c = TcpClient::connect(server.local_tcp_addr()).await;
    let local = c.local();
    c.send(&request(
        "INVITE",
        "TCP",
        local,
        call_id,
        "z9hG4bK-inv",
        1,
        None,
        SDP,
    ))
    .await;
    assert_eq!(c.recv_response().await.status_code.code(), 100);
    let mut call = timeout(WAIT, calls.recv()).await.unwrap().unwrap();
    assert_eq!(call.call_id, call_id);
    assert_eq!(call.dialed_user.as_deref(), Some("agent"));
    assert_eq!(call.remote_signalling_addr, local);
    call.handle.answer(SDP.into()).unwrap();
    let ok = c.recv_response().await;
    assert_eq!(ok.status_code.code(), 200);
    assert!(ok
        .contact_header()
        .unwrap()
        .value()
        .contains("transport=tcp"));
    let our_tag = tag(&ok);
    c.send(&request(
        "ACK",
        "TCP",
        local,
        call_id,
        "z9hG4bK-ack",
        1,
        Some(&our_tag),
        "",
    ))
    .await;
    assert_eq!(next_event(&mut call).await, CallEvent::Confirmed);
    (c, call, our_tag)
}

#[tokio::test]
async fn tcp_call_with_bye_from_caller() {
    let (server, mut calls) = server().await;
    let (mut c, mut call, our_tag) = tcp_confirmed(&server, &mut calls, "tcp-bye-in").await;
    let local = c.local();
    c.send(&request(
        "BYE",
        "TCP",
        local,
        "tcp-bye-in",
        "z9hG4bK-bye",
        2,
        Some(&our_tag),
        "",
    ))
    .await;
    let ok = c.recv_response().await;
    assert_eq!(ok.status_code.code(), 200);
    assert_eq!(ok.cseq_header().unwrap().value(), "2 BYE");
    assert!(matches!(
        next_event(&mut call).await,
        CallEvent::Terminated {
            by_remote: true,
            ..
        }
    ));
    assert!(
        call.events.recv().await.is_none(),
        "no event after Terminated"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn tcp_hangup_sends_bye_on_the_same_connection() {
    let (server, mut calls) = server().await;
    let (mut c, mut call, our_tag) = tcp_confirmed(&server, &mut calls, "tcp-bye-out").await;
    call.handle.hangup().unwrap();
    let bye: Request = match c.recv().await {
        SipMessage::Request(r) => r,
        other => panic!("expected BYE, got {other}"),
    };
    assert_eq!(bye.method, rsipstack::sip::Method::Bye);
    // Remote target = the caller's Contact (URI params compare case-insensitively).
    assert_eq!(
        bye.uri.to_string().to_ascii_lowercase(),
        format!("sip:caller@{};transport=tcp", c.local())
    );
    assert!(bye
        .from_header()
        .unwrap()
        .value()
        .ends_with(&format!("tag={our_tag}")));
    let ok = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
        bye.via_header().unwrap().value(),
        bye.from_header().unwrap().value(),
        bye.to_header().unwrap().value(),
        bye.call_id_header().unwrap().value(),
        bye.cseq_header().unwrap().value()
    );
    c.send(&ok).await;
    assert!(matches!(
        next_event(&mut call).await,
        CallEvent::Terminated {
            by_remote: false,
            ..
        }
    ));
    server.shutdown().await;
}

#[tokio::test]
async fn tcp_bye_opens_a_new_connection_to_the_contact_when_the_old_one_closed() {
    let (server, mut calls) = server().await;
    // The caller listens for in-dialog requests on its Contact address.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let contact = listener.local_addr().unwrap();
    let mut c = TcpClient::connect(server.local_tcp_addr()).await;
    let local = c.local();
    let invite = request(
        "INVITE",
        "TCP",
        local,
        "tcp-reconnect",
        "z9hG4bK-rc",
        1,
        None,
        SDP,
    )
    .replace(
        &format!("Contact: <sip:caller@{local};"),
        &format!("Contact: <sip:caller@{contact};"),
    );
    c.send(&invite).await;
    assert_eq!(c.recv_response().await.status_code.code(), 100);
    let mut call = timeout(WAIT, calls.recv()).await.unwrap().unwrap();
    call.handle.answer(SDP.into()).unwrap();
    let our_tag = tag(&c.recv_response().await);
    c.send(&request(
        "ACK",
        "TCP",
        local,
        "tcp-reconnect",
        "z9hG4bK-rca",
        1,
        Some(&our_tag),
        "",
    ))
    .await;
    assert_eq!(next_event(&mut call).await, CallEvent::Confirmed);
    drop(c);
    tokio::time::sleep(Duration::from_millis(50)).await;
    call.handle.hangup().unwrap();
    let (stream, _) = timeout(WAIT, listener.accept())
        .await
        .expect("server connects")
        .unwrap();
    let mut back = TcpClient {
        stream,
        framer: StreamFramer::new(),
    };
    match back.recv().await {
        SipMessage::Request(r) => assert_eq!(r.method, rsipstack::sip::Method::Bye),
        other => panic!("expected BYE, got {other}"),
    }
    server.shutdown().await;
    // Unanswered BYE: the shutdown ends the call with a final event.
    assert!(matches!(
        next_event(&mut call).await,
        CallEvent::Terminated {
            by_remote: false,
            ..
        }
    ));
}

#[tokio::test]
async fn tcp_keepalive_ping_gets_pong() {
    let (server, _calls) = server().await;
    let mut s = TcpStream::connect(server.local_tcp_addr()).await.unwrap();
    s.write_all(b"\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 2];
    timeout(WAIT, s.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"\r\n");
    server.shutdown().await;
}

async fn udp_recv(sock: &UdpSocket) -> Response {
    let mut buf = vec![0u8; 65_535];
    let n = timeout(WAIT, sock.recv(&mut buf))
        .await
        .expect("UDP timeout")
        .unwrap();
    match SipMessage::try_from(&buf[..n]).unwrap() {
        SipMessage::Response(r) => r,
        SipMessage::Request(r) => panic!("unexpected {}", r.method),
    }
}

#[tokio::test]
async fn udp_dropped_handle_rejects_with_480() {
    let (server, mut calls) = server().await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(server.local_udp_addr()).await.unwrap();
    let local = sock.local_addr().unwrap();
    sock.send(request("INVITE", "UDP", local, "drop", "z9hG4bK-d", 1, None, SDP).as_bytes())
        .await
        .unwrap();
    assert_eq!(udp_recv(&sock).await.status_code.code(), 100);
    let call = timeout(WAIT, calls.recv()).await.unwrap().unwrap();
    drop(call);
    assert_eq!(udp_recv(&sock).await.status_code.code(), 480);
    server.shutdown().await;
}

#[tokio::test]
async fn udp_draining_answers_503_and_malformed_400() {
    let (server, _calls) = server().await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(server.local_udp_addr()).await.unwrap();
    let local = sock.local_addr().unwrap();
    server.set_draining(true);
    sock.send(request("INVITE", "UDP", local, "drain", "z9hG4bK-dr", 1, None, SDP).as_bytes())
        .await
        .unwrap();
    let r = udp_recv(&sock).await;
    assert_eq!(r.status_code.code(), 503);
    assert!(r.headers.iter().any(|h| h.name() == "Retry-After"));
    let bad = "OPTIONS sip:agent@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-x;rport\r\nFrom: <sip:a@b>;tag=1\r\nCall-ID: bad\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    sock.send(bad.as_bytes()).await.unwrap();
    assert_eq!(udp_recv(&sock).await.status_code.code(), 400);
    server.shutdown().await;
}
