//! Arbitrary bytes as what a trunk sends to an outbound call
//! (`parla_sip::uac::OutboundCall`), in each of its states: calling,
//! ringing, cancelling, answered, hanging up, after a digest challenge.
//!
//! Input layout: byte 0 picks the state, byte 1 a response template
//! carrying the call's real Call-ID / branch / tags / CSeq (so it matches),
//! byte 2 how the rest of the input goes in (the whole message with `$C`
//! `$B` `$T` `$S` replaced by Call-ID, branch, From tag and CSeq number;
//! extra header lines; the body; the To value; a challenge value), byte 3
//! how far the virtual clock moves afterwards.
//!
//! Invariants: nothing panics; after `hangup()` and 300 s of timers the
//! call has emitted exactly one `Ended` and holds nothing more.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use parla_sip::message::{classify_datagram, Inbound, LocalPolicy};
use parla_sip::uac::{
    Credentials, Input, OutboundCall, OutboundRequest, Output, Source, Transport, UacConfig,
    UacEvent,
};

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
const STATUSES: [u16; 12] = [100, 180, 183, 200, 401, 407, 403, 486, 487, 500, 302, 603];

struct Ids {
    call_id: String,
    branch: String,
    from: String,
    to: String,
    cseq: String,
}

struct Run {
    call: OutboundCall,
    now: Instant,
    ids: Option<Ids>,
    ended: usize,
}

fn header(text: &str, name: &str) -> String {
    text.split("\r\n")
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or("")
        .to_string()
}

impl Run {
    fn drain(&mut self) {
        while let Some(out) = self.call.poll_output() {
            match out {
                Output::Send(t) => {
                    let text = String::from_utf8_lossy(&t.bytes).to_string();
                    if text.starts_with("INVITE ") {
                        let via = header(&text, "Via");
                        let branch = via
                            .split(";branch=")
                            .nth(1)
                            .and_then(|b| b.split(';').next())
                            .unwrap_or("")
                            .to_string();
                        self.ids = Some(Ids {
                            call_id: header(&text, "Call-ID"),
                            branch,
                            from: header(&text, "From"),
                            to: header(&text, "To"),
                            cseq: header(&text, "CSeq"),
                        });
                    }
                }
                Output::Event(UacEvent::Ended { .. }) => self.ended += 1,
                Output::Event(_) => {}
            }
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        let source = Source {
            transport: Transport::Udp,
            addr: "192.0.2.1:5060".parse().unwrap(),
            conn: None,
        };
        match classify_datagram(bytes, &LocalPolicy::default()) {
            Inbound::Response(r) => self.call.handle_input(self.now, Input::Response(r)),
            Inbound::Request(r) => self.call.handle_input(self.now, Input::Request(r, source)),
            _ => {}
        }
        self.drain();
    }

    fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        while let Some(at) = self.call.poll_timeout() {
            if at > target {
                break;
            }
            self.now = self.now.max(at);
            self.call.handle_input(self.now, Input::Timeout);
            self.drain();
        }
        self.now = target;
    }

    /// A response to the current INVITE; `extra` / `body` / `to` spliced in.
    fn response(&self, status: u16, extra: &str, body: Option<&[u8]>, to: Option<&str>) -> Vec<u8> {
        let Some(ids) = &self.ids else {
            return Vec::new();
        };
        let to = to
            .map(str::to_string)
            .unwrap_or_else(|| format!("{};tag=trunk1", ids.to));
        let body = body.unwrap_or(if status == 200 { SDP.as_bytes() } else { b"" });
        let mut out = format!(
            "SIP/2.0 {status} X\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch={};rport=5060\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:b@192.0.2.1>\r\n{extra}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n",
            ids.branch, ids.from, ids.call_id, ids.cseq, body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    }

    fn respond(&mut self, status: u16) {
        let r = self.response(status, "WWW-Authenticate: Digest realm=\"r\", nonce=\"n\", qop=\"auth\"\r\nProxy-Authenticate: Digest realm=\"r\", nonce=\"n\"\r\n", None, None);
        self.feed(&r);
    }
}

fuzz_target!(|data: &[u8]| {
    let [state, template, mode, clock, rest @ ..] = data else {
        return;
    };
    let t0 = Instant::now();
    let config = UacConfig {
        contact_host: "10.0.0.1".into(),
        rng_seed: Some(1),
        ..UacConfig::default()
    };
    let mut req = OutboundRequest::new(
        "sip:+15551234@192.0.2.1",
        "sip:+15550000@parla.test",
        "192.0.2.1:5060".parse().unwrap(),
        "10.0.0.1:40000".parse().unwrap(),
    );
    req.credentials = Some(Credentials::new("u", "p"));
    let call = OutboundCall::new(t0, config, req).expect("valid request");
    let mut run = Run {
        call,
        now: t0,
        ids: None,
        ended: 0,
    };
    run.drain();
    match state % 6 {
        0 => {}
        1 => run.respond(180),
        2 => {
            run.respond(180);
            let _ = run.call.cancel(run.now);
            run.drain();
        }
        3 => run.respond(200),
        4 => {
            run.respond(200);
            let _ = run.call.hangup(run.now);
            run.drain();
        }
        _ => run.respond(401),
    }
    let status = STATUSES[*template as usize % STATUSES.len()];
    let text = String::from_utf8_lossy(rest);
    let msg = match mode % 5 {
        0 => {
            let ids = run.ids.as_ref().expect("an INVITE was sent");
            let seq = ids.cseq.split(' ').next().unwrap_or("1");
            text.replace("$C", &ids.call_id)
                .replace("$B", &ids.branch)
                .replace("$T", ids.from.rsplit("tag=").next().unwrap_or(""))
                .replace("$S", seq)
                .into_bytes()
        }
        1 => run.response(status, &format!("{text}\r\n"), None, None),
        2 => run.response(status, "", Some(rest), None),
        3 => run.response(status, "", None, Some(&text)),
        _ => run.response(
            status,
            &format!("WWW-Authenticate: {text}\r\nProxy-Authenticate: {text}\r\n"),
            None,
            None,
        ),
    };
    run.feed(&msg);
    run.advance(Duration::from_millis(u64::from(*clock) * 250));
    run.feed(&msg); // as a retransmission
    let _ = run.call.hangup(run.now);
    run.drain();
    run.advance(Duration::from_secs(300));
    assert_eq!(run.ended, 1, "exactly one Ended");
    assert!(run.call.is_finished(), "the call still holds timers");
});
