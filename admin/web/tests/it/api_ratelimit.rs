//! Request rate limiting of `/api/v1` on a real server (both backends):
//! under the limit requests succeed; over it the API answers 429 in its
//! error shape with `Retry-After`; limits are per client IP, per
//! credential, and stricter for login.

use crate::api_support;
use crate::support;

use parla_admin_web::api::rate_limit::{
    API_PER_CREDENTIAL_BURST, API_PER_IP_BURST, LOGIN_PER_IP_BURST,
};
use parla_admin_web::api::{AdminState, Rate, RateLimits};
use reqwest::StatusCode;
use serde_json::{json, Value};

use api_support::{seed, Server};
use support::Ctx;

store_tests!(
    over_the_ip_limit_is_429_with_retry_after,
    credentials_are_limited_separately,
    login_has_its_own_stricter_limit
);

fn rate(burst: u32) -> Option<Rate> {
    Some(Rate {
        per_minute: 1,
        burst,
    })
}

/// Sends `GET path` with `token` and returns status, `Retry-After` and body.
async fn get(server: &Server, path: &str, token: &str) -> (StatusCode, Option<String>, Value) {
    let res = reqwest::Client::new()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, res.json().await.unwrap_or(Value::Null))
}

/// Panics unless this is the rate limit's 429.
fn assert_limited(status: StatusCode, retry: Option<String>, body: &Value) {
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "too_many_requests", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too many requests"),
        "{body}"
    );
    let secs: u64 = retry.expect("Retry-After").parse().expect("whole seconds");
    assert!((1..=60).contains(&secs), "Retry-After {secs}");
}

#[test]
fn defaults_are_the_named_limits() {
    let d = RateLimits::default();
    assert_eq!(d.per_ip.unwrap().burst, API_PER_IP_BURST);
    assert_eq!(d.per_credential.unwrap().burst, API_PER_CREDENTIAL_BURST);
    assert_eq!(d.login_per_ip.unwrap().burst, LOGIN_PER_IP_BURST);
    assert!(RateLimits::unlimited().per_ip.is_none());
}

async fn over_the_ip_limit_is_429_with_retry_after(ctx: Ctx) {
    let seeded = seed(&ctx.store).await;
    let server = Server::start(&ctx.url, |s: AdminState| {
        s.with_rate_limits(RateLimits {
            per_ip: rate(5),
            ..RateLimits::unlimited()
        })
    });
    let path = format!("/api/v1/tenants/{}/agents", seeded.tenant);
    for i in 0..5 {
        let (status, _, body) = get(&server, &path, &seeded.api_key).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "request {i} under the limit: {body}"
        );
    }
    let (status, retry, body) = get(&server, &path, &seeded.api_key).await;
    assert_limited(status, retry, &body);
    // Also for unauthenticated requests and other routes from that IP.
    let (status, retry, body) = get(&server, "/api/v1/me", "garbage").await;
    assert_limited(status, retry, &body);
    server.stop().await;
}

async fn credentials_are_limited_separately(ctx: Ctx) {
    let seeded = seed(&ctx.store).await;
    let server = Server::start(&ctx.url, |s: AdminState| {
        s.with_rate_limits(RateLimits {
            per_credential: rate(3),
            ..RateLimits::unlimited()
        })
    });
    for _ in 0..3 {
        let (status, _, body) = get(&server, "/api/v1/me", &seeded.api_key).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, retry, body) = get(&server, "/api/v1/me", &seeded.api_key).await;
    assert_limited(status, retry, &body);
    // Another credential from the same IP is not affected.
    let (status, _, body) = get(&server, "/api/v1/me", "pk_other_credential").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    server.stop().await;
}

async fn login_has_its_own_stricter_limit(ctx: Ctx) {
    let seeded = seed(&ctx.store).await;
    let server = Server::start(&ctx.url, |s: AdminState| {
        s.with_rate_limits(RateLimits {
            login_per_ip: rate(2),
            ..RateLimits::unlimited()
        })
    });
    let client = reqwest::Client::new();
    let login = || {
        client
            .post(server.url("/api/v1/auth/login"))
            .json(&json!({"email": "nobody@example.com", "password": "wrong password"}))
            .send()
    };
    for _ in 0..2 {
        let res = login().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = login().await.unwrap();
    let status = res.status();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = res.json().await.unwrap();
    assert_limited(status, retry, &body);
    // The rest of the API is not limited by the login limit.
    let (status, _, body) = get(&server, "/api/v1/me", &seeded.api_key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.stop().await;
}
