//! Unit tests of the egress guard: address classes, URL rules, the
//! operator's allow-list, and connect-time resolution.

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn internal_addresses_are_not_public() {
    for s in [
        "0.0.0.0",
        "0.1.2.3",
        "127.0.0.1",
        "127.255.255.254",
        "10.0.0.1",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.255",
        "192.0.0.8",
        "192.0.2.1",
        "198.18.0.1",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "fec0::1",
        "ff02::1",
        "2001:db8::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::10.0.0.1",
        "64:ff9b::a00:1",
        "2002:7f00:1::",
        "2001::1",
        "100::1",
    ] {
        assert!(!is_public(ip(s)), "{s} must not be public");
    }
}

#[test]
fn public_addresses_are_public() {
    for s in [
        "8.8.8.8",
        "1.1.1.1",
        "172.32.0.1",
        "100.128.0.1",
        "169.255.0.1",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::",
    ] {
        assert!(is_public(ip(s)), "{s} must be public");
    }
}

#[test]
fn urls_must_use_tls_and_public_literals() {
    let p = EgressPolicy::strict();
    let ok = p.check_url("https://api.openai.com/v1", false).unwrap();
    assert_eq!(
        (ok.host.as_str(), ok.port, ok.allowed),
        ("api.openai.com", 443, false)
    );
    assert_eq!(
        p.check_url("wss://api.deepgram.com", true).unwrap().port,
        443
    );

    let refused = |url: &str, ws: bool| p.check_url(url, ws).unwrap_err();
    assert!(matches!(
        refused("http://api.openai.com/v1", false),
        EgressError::Scheme { .. }
    ));
    assert!(matches!(
        refused("ws://api.deepgram.com", true),
        EgressError::Scheme { .. }
    ));
    assert!(matches!(
        refused("wss://api.deepgram.com", false),
        EgressError::Scheme { .. }
    ));
    assert!(matches!(
        refused("file:///etc/passwd", false),
        EgressError::Scheme { .. }
    ));
    assert!(matches!(
        refused("gopher://x", false),
        EgressError::Scheme { .. }
    ));
    assert!(matches!(
        refused("https://127.0.0.1/v1", false),
        EgressError::Forbidden { .. }
    ));
    assert!(matches!(
        refused("https://10.1.2.3:8443/v1", false),
        EgressError::Forbidden { .. }
    ));
    assert!(matches!(
        refused("https://169.254.169.254/latest", false),
        EgressError::Forbidden { .. }
    ));
    assert!(matches!(
        refused("https://[::1]/v1", false),
        EgressError::Forbidden { .. }
    ));
    assert!(matches!(
        refused("https://[::ffff:7f00:1]/v1", false),
        EgressError::Forbidden { .. }
    ));
    assert!(matches!(
        refused("https://0x7f000001/v1", false),
        EgressError::Forbidden { .. }
    ));
    assert!(matches!(
        refused("https://2130706433/v1", false),
        EgressError::Forbidden { .. }
    ));
    assert!(matches!(
        refused("wss://192.168.0.10", true),
        EgressError::Forbidden { .. }
    ));
    assert!(matches!(
        refused("https://user:pw@api.openai.com", false),
        EgressError::Credentials
    ));
    assert!(matches!(
        refused("not a url", false),
        EgressError::BadUrl(_)
    ));
    assert!(matches!(refused("https://", false), EgressError::BadUrl(_)));
}

#[test]
fn the_operator_allow_list_admits_named_hosts_and_ports() {
    let p = EgressPolicy::allowing([
        "127.0.0.1:9400",
        "localhost",
        " ",
        "[::1]:9000",
        "Whisper.Internal:8000",
    ])
    .unwrap();
    assert_eq!(p.entries().len(), 4);
    let e = p.check_url("http://127.0.0.1:9400/v1", false).unwrap();
    assert!(e.allowed);
    assert!(p.check_url("ws://127.0.0.1:9400", true).unwrap().allowed);
    // Another port of an allowed address is not allowed.
    assert!(matches!(
        p.check_url("http://127.0.0.1:9401/v1", false).unwrap_err(),
        EgressError::Scheme { .. }
    ));
    assert!(matches!(
        p.check_url("https://127.0.0.1:9401/v1", false).unwrap_err(),
        EgressError::Forbidden { .. }
    ));
    assert!(p.check_url("http://localhost:1234", false).unwrap().allowed);
    assert!(p.check_url("http://[::1]:9000", false).unwrap().allowed);
    assert!(
        p.check_url("http://whisper.internal:8000/v1", false)
            .unwrap()
            .allowed
    );
    assert_eq!(
        p.entries()
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>(),
        [
            "127.0.0.1:9400",
            "localhost",
            "[::1]:9000",
            "whisper.internal:8000"
        ]
    );
    for bad in [
        "http://x",
        "a b",
        "host:99999",
        "user@host",
        "",
        ":80",
        "ho_st",
    ] {
        assert!(
            EgressPolicy::allowing([bad]).is_err() || bad.trim().is_empty(),
            "{bad}"
        );
    }
    let many: Vec<String> = (0..=MAX_ALLOW_ENTRIES)
        .map(|i| format!("h{i}.example"))
        .collect();
    assert_eq!(
        EgressPolicy::allowing(&many).unwrap_err(),
        EgressError::TooManyAllowEntries
    );
}

#[tokio::test]
async fn names_are_checked_when_resolved() {
    // `localhost` resolves to loopback: refused at connect time without an allow entry.
    let strict = EgressPolicy::strict();
    let err = resolve_checked(&strict, "localhost", 443)
        .await
        .unwrap_err();
    assert!(matches!(err, EgressError::Forbidden { .. }), "{err:?}");
    // Allowed by name, or by the address it resolves to (with the port).
    let by_name = EgressPolicy::allowing(["localhost"]).unwrap();
    assert!(!resolve_checked(&by_name, "localhost", 443)
        .await
        .unwrap()
        .is_empty());
    let by_addr = EgressPolicy::allowing(["127.0.0.1:443"]).unwrap();
    assert!(!resolve_checked(&by_addr, "localhost", 443)
        .await
        .unwrap()
        .is_empty());
    assert!(resolve_checked(&by_addr, "localhost", 444).await.is_err());
}

#[tokio::test]
async fn websocket_connections_are_guarded() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let t = Duration::from_secs(2);
    let strict = EgressPolicy::strict();
    for url in [
        format!("wss://localhost:{port}"),
        format!("wss://127.0.0.1:{port}"),
    ] {
        let err = strict.connect_tcp(&url, t).await.unwrap_err();
        assert!(
            matches!(err, ProviderError::Connect(ref m) if m.contains("refusing")),
            "{url}: {err:?}"
        );
    }
    let allowed = EgressPolicy::allowing([format!("127.0.0.1:{port}")]).unwrap();
    let stream = allowed
        .connect_tcp(&format!("ws://127.0.0.1:{port}"), t)
        .await
        .unwrap();
    assert_eq!(stream.peer_addr().unwrap().port(), port);
}

#[tokio::test]
async fn http_clients_refuse_internal_targets_and_do_not_follow_redirects() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A local server answering every request with a redirect to itself/elsewhere.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await;
        }
    });
    let t = Duration::from_secs(2);
    // Strict: the client cannot even be built for a loopback literal.
    assert!(EgressPolicy::strict()
        .http_client(&format!("http://{addr}/v1"), "t", t)
        .is_err());
    assert!(EgressPolicy::strict()
        .http_client(&format!("https://{addr}/v1"), "t", t)
        .is_err());
    // A name resolving to loopback: built, but the connection is refused at connect time.
    let client = EgressPolicy::strict()
        .http_client(&format!("https://localhost:{}/v1", addr.port()), "t", t)
        .unwrap();
    let err = client
        .get(format!("https://localhost:{}/v1", addr.port()))
        .send()
        .await
        .unwrap_err();
    assert!(format!("{:?}", err).contains("non-public"), "{err:?}");
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing reached the server"
    );
    // Allowed: the request goes out, and the redirect is returned, not followed.
    let allowed = EgressPolicy::allowing([addr.to_string()]).unwrap();
    let client = allowed
        .http_client(&format!("http://{addr}/v1"), "t", t)
        .unwrap();
    let resp = client
        .get(format!("http://{addr}/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}
