//! Trunk registration (`SipServer::register`) against SIPp playing the
//! registrar, with the `register_*.xml` scenarios in `sip/tests/sipp/`: a
//! digest challenge then a 4 s binding that must be refreshed before it
//! expires and removed at the end, a wrong password (403 after the
//! challenge), and a 503 retried after the backoff. SIPp is started as in
//! `uac_sipp` (a missing sipp fails under CI / `PARLA_REQUIRE_TOOLS=1`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use parla_sip::register::RegistrationStatus;
use parla_sip::server::{RegistrationHandle, RegistrationRequest, SipServer, SipServerConfig};
use parla_sip::uac::Credentials;

use crate::uac_sipp::{sipp_installed, Sipp};

async fn server() -> SipServer {
    let config = SipServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        public_ip: Some("127.0.0.1".parse().unwrap()),
        user_agent: "ParlaRegTest".into(),
        ..SipServerConfig::default()
    };
    SipServer::bind(config).await.expect("bind").0
}

fn request(registrar: SocketAddr, password: &str) -> RegistrationRequest {
    let mut req = RegistrationRequest::new(
        format!("sip:{registrar}"),
        format!("sip:parla@{registrar}"),
        registrar,
    );
    req.credentials = Some(Credentials::new("parla", password));
    req
}

/// Waits (at most `within`) for a status matching `pred`.
async fn wait(
    handle: &mut RegistrationHandle,
    within: Duration,
    what: &str,
    pred: impl FnMut(&RegistrationStatus) -> bool,
) -> RegistrationStatus {
    match tokio::time::timeout(within, handle.wait_for(pred)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => panic!("waiting for {what}: {e}"),
        Err(_) => panic!("no {what} within {within:?}: {:?}", handle.status()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenge_then_short_binding_is_refreshed_before_expiry() {
    if !sipp_installed() {
        return;
    }
    let mut sipp = Sipp::start("register_auth_refresh.xml");
    let server = server().await;
    let mut handle = server.register(request(sipp.addr, "s3cret")).unwrap();
    let first = wait(&mut handle, Duration::from_secs(5), "Registered", |s| {
        s.is_registered()
    })
    .await;
    let RegistrationStatus::Registered { expires_at, at } = first else {
        unreachable!()
    };
    assert_eq!(expires_at - at, Duration::from_secs(4), "granted 4 s");
    // The refresh is challenged and answered again: a new `at`.
    let second = wait(
        &mut handle,
        Duration::from_secs(4),
        "the refresh",
        |s| matches!(s, RegistrationStatus::Registered { at: a, .. } if *a > at),
    )
    .await;
    let RegistrationStatus::Registered { at: at2, .. } = second else {
        unreachable!()
    };
    assert!(
        at2 < expires_at,
        "refreshed {:?} before expiry",
        expires_at - at2
    );
    assert!(
        at2 - at >= Duration::from_millis(1_500),
        "refreshed after {:?}: too early",
        at2 - at
    );
    handle.unregister().unwrap();
    let end = wait(&mut handle, Duration::from_secs(5), "Unregistered", |s| {
        matches!(s, RegistrationStatus::Unregistered { .. })
    })
    .await;
    assert_eq!(end.name(), "unregistered");
    sipp.assert_success().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_failing_with_the_reason() {
    if !sipp_installed() {
        return;
    }
    let mut sipp = Sipp::start("register_forbidden.xml");
    let server = server().await;
    let t0 = Instant::now();
    let mut handle = server.register(request(sipp.addr, "wrong")).unwrap();
    assert_eq!(handle.status(), RegistrationStatus::Pending);
    let status = wait(&mut handle, Duration::from_secs(5), "Failing", |s| {
        matches!(s, RegistrationStatus::Failing { .. })
    })
    .await;
    let RegistrationStatus::Failing {
        reason,
        status,
        at,
        retry_at,
    } = status
    else {
        unreachable!()
    };
    assert_eq!(reason, "403 Forbidden after our credentials");
    assert_eq!(status, Some(403));
    assert!(at >= t0 && at - t0 < Duration::from_secs(5));
    assert_eq!(retry_at - at, Duration::from_secs(30), "first backoff");
    sipp.assert_success().await;
    assert!(
        matches!(handle.status(), RegistrationStatus::Failing { .. }),
        "no retry before the backoff: {:?}",
        handle.status()
    );
    server.shutdown().await;
    assert_eq!(handle.status().name(), "unregistered", "ended at shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_registrar_is_retried_after_the_backoff_and_unregistered_at_shutdown() {
    if !sipp_installed() {
        return;
    }
    let mut sipp = Sipp::start("register_retry.xml");
    let server = server().await;
    let mut req = request(sipp.addr, "s3cret");
    req.retry_initial = Duration::from_secs(1);
    let mut handle = server.register(req).unwrap();
    let failing = wait(&mut handle, Duration::from_secs(5), "Failing", |s| {
        matches!(s, RegistrationStatus::Failing { .. })
    })
    .await;
    let RegistrationStatus::Failing {
        reason, retry_at, ..
    } = failing
    else {
        unreachable!()
    };
    assert_eq!(reason, "503 Service Unavailable");
    let ok = wait(&mut handle, Duration::from_secs(5), "Registered", |s| {
        s.is_registered()
    })
    .await;
    let RegistrationStatus::Registered { expires_at, at } = ok else {
        unreachable!()
    };
    assert!(at >= retry_at, "not retried before the backoff");
    assert_eq!(expires_at - at, Duration::from_secs(60), "Expires header");
    // Shutdown removes the binding (Expires: 0, checked by the scenario).
    server.shutdown().await;
    sipp.assert_success().await;
    assert_eq!(handle.status().name(), "unregistered");
}
