//! SIP signalling costs, per message (not per frame): classifying inbound
//! datagrams, building the 200 OK with the SDP answer, and SDP offer/answer.
//! These run a few times per call, not every 20 ms; they bound the call
//! setup rate rather than the number of concurrent calls.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use parla_benches::{bye, invite_with_sdp, SDP_OFFER};
use parla_sip::message::{
    build_response, classify_datagram, record_route_headers, Inbound, LocalPolicy,
};
use parla_sip::sdp::{negotiate, AnswerParams, Codec, SessionDescription};
use parla_sip::uas::ALLOWED_METHODS;
use rsipstack::sip::headers::untyped::{Allow, Contact, Server};
use rsipstack::sip::Header;

const SUPPORTED: &[Codec] = &[Codec::Pcmu, Codec::Pcma];

fn answer_params() -> AnswerParams<'static> {
    AnswerParams {
        public_ip: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10)),
        rtp_port: 20_000,
        session_id: 0x1234_5678,
        session_version: 1,
        supported: SUPPORTED,
        user_agent: "Parla",
    }
}

fn sip(c: &mut Criterion) {
    let policy = LocalPolicy::default();
    let invite = invite_with_sdp();
    let bye = bye();
    let Inbound::Request(req) = classify_datagram(&invite, &policy) else {
        panic!("the benchmark INVITE must classify as a request");
    };
    assert!(matches!(
        classify_datagram(&bye, &policy),
        Inbound::Request(_)
    ));
    let offer = SessionDescription::parse(SDP_OFFER).expect("valid offer");
    let (_, answer) = negotiate(&offer, &answer_params()).expect("negotiable offer");
    let answer = answer.to_string();

    let mut group = c.benchmark_group("sip");
    group.throughput(Throughput::Elements(1));
    group.bench_function("classify_invite_sdp", |b| {
        b.iter(|| classify_datagram(black_box(&invite), &policy))
    });
    group.bench_function("classify_bye", |b| {
        b.iter(|| classify_datagram(black_box(&bye), &policy))
    });

    // As the UAS answers (uas/app.rs send_invite_ok + respond): Contact,
    // Allow, Record-Route copied, Server, SDP body.
    let ok = || {
        let mut extra = vec![
            Header::Contact(Contact::new("<sip:203.0.113.10:5060>")),
            Header::Allow(Allow::new(ALLOWED_METHODS.join(", "))),
        ];
        extra.extend(record_route_headers(black_box(&req)));
        extra.push(Header::Server(Server::new("Parla")));
        build_response(
            &req,
            200,
            None,
            Some("1f2e3d4c5b6a7980"),
            extra,
            Some(("application/sdp", answer.clone().into_bytes())),
        )
    };
    group.bench_function("build_200_ok_sdp", |b| b.iter(ok));
    group.bench_function("build_200_ok_sdp_to_bytes", |b| b.iter(|| ok().to_bytes()));

    let params = answer_params();
    group.bench_function("sdp_parse_negotiate", |b| {
        b.iter(|| {
            let offer = SessionDescription::parse(black_box(SDP_OFFER)).expect("valid");
            negotiate(&offer, &params).expect("negotiable")
        })
    });
    group.bench_function("sdp_parse_negotiate_to_string", |b| {
        b.iter(|| {
            let offer = SessionDescription::parse(black_box(SDP_OFFER)).expect("valid");
            negotiate(&offer, &params)
                .expect("negotiable")
                .1
                .to_string()
        })
    });
    group.finish();
}

criterion_group!(benches, sip);
criterion_main!(benches);
