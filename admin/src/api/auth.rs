//! Bearer authentication: `Authorization: Bearer pk_…` (API key) or
//! `Authorization: Bearer <session token>` (the value returned by
//! `POST /api/v1/auth/login`, also set as the session cookie).

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpRequest};

use crate::auth::{api_key, is_expired, session_id_of, Principal, TenantRole};
use crate::domain::{Role, Timestamp, UserId, UserStatus};
use crate::store::TenantScope;

use super::app::AdminState;
use super::error::ApiError;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who is calling and with which rights.
    pub principal: Principal,
    /// The human behind the request (for an API key: its creator).
    pub user_id: Option<UserId>,
    /// Label for the audit log (email, or `api_key:<id>`).
    pub label: String,
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AdminState>>().cloned();
        let header = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("AdminState missing"))?;
            let header = header.ok_or_else(ApiError::unauthorized)?;
            authenticate(&state, &header).await
        })
    }
}

fn bearer_token(header: &str) -> Option<&str> {
    let v = header.trim_matches([' ', '\t']);
    let (scheme, rest) = v.split_once([' ', '\t'])?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_start_matches([' ', '\t']))
}

async fn authenticate(state: &AdminState, header: &str) -> Result<Authenticated, ApiError> {
    let token = bearer_token(header).ok_or_else(ApiError::unauthorized)?;
    if token.starts_with(api_key::KEY_MARKER) {
        by_api_key(state, header).await
    } else {
        by_session(state, token).await
    }
}

async fn by_api_key(state: &AdminState, header: &str) -> Result<Authenticated, ApiError> {
    let parsed = api_key::parse_bearer(header).map_err(|_| ApiError::unauthorized())?;
    let key = state
        .store
        .api_keys()
        .find_by_prefix(&parsed.prefix)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    if !api_key::verify(&parsed.plaintext, key.key_hash.expose()) || !key.is_active() {
        return Err(ApiError::unauthorized());
    }
    let scope = TenantScope::new(key.tenant_id);
    state
        .store
        .api_keys()
        .touch(&scope, key.id, Timestamp::now())
        .await?;
    Ok(Authenticated {
        principal: Principal::ApiKey {
            key_id: key.id.to_string(),
            tenant_id: key.tenant_id.to_string(),
        },
        user_id: key.created_by,
        label: format!("api_key:{}", key.id),
    })
}

async fn by_session(state: &AdminState, token: &str) -> Result<Authenticated, ApiError> {
    let id = session_id_of(token).map_err(|_| ApiError::unauthorized())?;
    let session = state
        .store
        .sessions()
        .get(&id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let now = Timestamp::now();
    if is_expired(
        session.created_at.as_unix_ms(),
        session.last_seen_at.as_unix_ms(),
        now.as_unix_ms(),
    ) || session.expires_at <= now
    {
        return Err(ApiError::unauthorized());
    }
    let user = state
        .store
        .users()
        .get(session.user_id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    if user.status != UserStatus::Active {
        return Err(ApiError::unauthorized());
    }
    let roles = state.store.memberships().roles_of(user.id).await?;
    let principal = if roles.iter().any(|m| m.role == Role::SuperAdmin) {
        Principal::SuperAdmin {
            user_id: user.id.to_string(),
        }
    } else {
        let tenant = session.tenant_id.ok_or_else(ApiError::unauthorized)?;
        let m = roles
            .iter()
            .find(|m| m.tenant_id == Some(tenant))
            .ok_or_else(ApiError::unauthorized)?;
        let role = match m.role {
            Role::Admin => TenantRole::Admin,
            Role::Agent => TenantRole::Agent,
            Role::SuperAdmin => return Err(ApiError::unauthorized()),
        };
        Principal::TenantUser {
            user_id: user.id.to_string(),
            tenant_id: tenant.to_string(),
            role,
            masquerading_from: session.masquerading_from.map(|u| u.to_string()),
        }
    };
    Ok(Authenticated {
        principal,
        user_id: Some(user.id),
        label: user.email.to_string(),
    })
}
