//! `POST /api/v1/auth/login`: email + password → session token (also set
//! as the session cookie). Throttled per IP and per account.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth::{session, verify_dummy, verify_password, SessionToken, ThrottleKey, SESSION_TTL};
use crate::domain::{Email, Opaque, Role, Timestamp, UserStatus};
use crate::store::{NewAuditEntry, NewSession};

use super::{client_ip, State};
use crate::api::error::ApiError;

#[derive(Deserialize)]
pub(super) struct Login {
    email: String,
    password: String,
}

pub(super) async fn login(
    state: State,
    req: HttpRequest,
    body: web::Json<Login>,
) -> Result<HttpResponse, ApiError> {
    let Login { email, password } = body.into_inner();
    let ip = req
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    let keys = [ThrottleKey::ip(ip), ThrottleKey::account(&email)];
    {
        let throttle = state.throttle.lock().map_err(ApiError::internal)?;
        if let Err(retry) = throttle.check_all(&keys, Instant::now()) {
            return Err(ApiError::too_many_requests(retry.as_secs_ceil()));
        }
    }
    let user = match email.parse::<Email>() {
        Ok(e) => state.store.users().find_by_email(&e).await?,
        Err(_) => None,
    };
    let verified = match &user {
        Some(u) => {
            let hash = u.password_hash.expose().to_owned();
            let pw = password.clone();
            web::block(move || verify_password(&pw, &hash))
                .await
                .map_err(ApiError::internal)?
                .unwrap_or(false)
        }
        None => {
            web::block(move || verify_dummy(&password))
                .await
                .map_err(ApiError::internal)?;
            false
        }
    };
    let user = match user {
        Some(u) if verified && u.status == UserStatus::Active => u,
        other => {
            {
                let mut throttle = state.throttle.lock().map_err(ApiError::internal)?;
                for k in &keys {
                    throttle.record_failure(k, Instant::now());
                }
            }
            record(
                &state,
                &req,
                other.as_ref().map(|u| u.id),
                &email,
                "login.failed",
            )
            .await?;
            return Err(ApiError::unauthorized());
        }
    };
    {
        let mut throttle = state.throttle.lock().map_err(ApiError::internal)?;
        throttle.record_success(&keys[1]);
    }
    let roles = state.store.memberships().roles_of(user.id).await?;
    let tenant = if roles.iter().any(|m| m.role == Role::SuperAdmin) {
        None
    } else {
        match roles.iter().find_map(|m| m.tenant_id) {
            Some(t) => Some(t),
            None => return Err(ApiError::forbidden()),
        }
    };
    let token = SessionToken::generate();
    let now = Timestamp::now();
    state
        .store
        .sessions()
        .create(NewSession {
            id: token.session_id.clone(),
            user_id: user.id,
            tenant_id: tenant,
            masquerading_from: None,
            csrf_token: Opaque::new(SessionToken::generate().cookie_value),
            now,
            expires_at: now.plus(SESSION_TTL),
        })
        .await?;
    record(
        &state,
        &req,
        Some(user.id),
        user.email.as_str(),
        "login.succeeded",
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::SET_COOKIE,
            session::set_cookie_header(&token.cookie_value, false),
        ))
        .json(serde_json::json!({ "token": token.cookie_value })))
}

async fn record(
    state: &State,
    req: &HttpRequest,
    user: Option<crate::domain::UserId>,
    label: &str,
    action: &str,
) -> Result<(), ApiError> {
    state
        .store
        .audit()
        .record(NewAuditEntry {
            actor_user_id: user,
            actor_label: label.chars().take(320).collect(),
            tenant_id: None,
            action: action.to_owned(),
            target: user.map(|u| u.to_string()).unwrap_or_default(),
            before: None,
            after: None,
            ip: client_ip(req),
            at: Timestamp::now(),
        })
        .await?;
    Ok(())
}
