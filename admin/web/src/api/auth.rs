//! Request authentication for `/api/v1`:
//!
//! * `Authorization: Bearer pk_…` (API key) or `Authorization: Bearer
//!   <session token>` (the value returned by `POST /api/v1/auth/login`):
//!   no CSRF token needed (browsers never attach this header on their own);
//! * otherwise the session cookie ([`parla_admin_core::auth::SESSION_COOKIE`]): POST, PUT, PATCH
//!   and DELETE must also carry the session's CSRF token in
//!   [`CSRF_HEADER`] (403 `csrf_failed` otherwise).
//!
//! API keys of a suspended tenant get 403 `tenant_suspended`, like its
//! users' sessions. An API key acts with its creator's **current** role in
//! the key's tenant, looked up on every request: a creator demoted to
//! `agent` leaves the key read-only (403 on management), a creator who is
//! disabled, deleted or no longer a member makes the key fail with 401. A
//! key created by a super admin acts as a tenant admin.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::{header, Method};
use actix_web::{web, FromRequest, HttpRequest};

use parla_admin_core::auth::TenantRole;
use parla_admin_core::auth::{
    api_key, session_cookie_value, session_id_of, Principal, CSRF_HEADER,
};
use parla_admin_core::domain::{Role, TenantStatus, UserId, UserStatus};
use parla_admin_core::store::TenantScope;

use super::error::ApiError;
use crate::state::AdminState;
use parla_admin_core::service::login::{csrf_matches, principal_of_session_id, Authenticated};

/// The authenticated caller of an API request, as an actix-web extractor:
/// the login service's [`Authenticated`] (which it dereferences to), found
/// from the bearer API key or session token, or the session cookie (with
/// the CSRF header on unsafe methods). Extraction fails with 401
/// `unauthorized`, 403 `csrf_failed` or `tenant_suspended`.
#[derive(Debug, Clone)]
pub struct Caller(pub Authenticated);

impl std::ops::Deref for Caller {
    type Target = Authenticated;

    fn deref(&self) -> &Authenticated {
        &self.0
    }
}

/// What a request presented.
enum Credentials {
    Header(String),
    Cookie { token: String, csrf: Option<String> },
    None,
}

fn credentials_of(req: &HttpRequest) -> Credentials {
    if let Some(v) = req.headers().get(header::AUTHORIZATION) {
        return Credentials::Header(v.to_str().unwrap_or_default().to_owned());
    }
    let token = req
        .headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .find_map(session_cookie_value);
    let Some(token) = token else {
        return Credentials::None;
    };
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let csrf = unsafe_method.then(|| {
        req.headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    });
    Credentials::Cookie {
        token: token.to_owned(),
        csrf,
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AdminState>>().cloned();
        let creds = credentials_of(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("AdminState missing"))?;
            let who = match creds {
                Credentials::Header(h) => authenticate(&state, &h).await,
                Credentials::Cookie { token, csrf } => by_cookie(&state, &token, csrf).await,
                Credentials::None => Err(ApiError::unauthorized()),
            };
            who.map(Caller)
        })
    }
}

async fn by_cookie(
    state: &AdminState,
    token: &str,
    csrf: Option<String>,
) -> Result<Authenticated, ApiError> {
    let id = session_id_of(token).map_err(|_| ApiError::unauthorized())?;
    if let Some(submitted) = csrf {
        if !csrf_matches(state, token, &submitted) {
            return Err(ApiError::csrf_failed());
        }
    }
    Ok(principal_of_session_id(state, &id).await?.0)
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
        let id = session_id_of(token).map_err(|_| ApiError::unauthorized())?;
        Ok(principal_of_session_id(state, &id).await?.0)
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
    match state.store.tenants().get(key.tenant_id).await? {
        Some(t) if t.status == TenantStatus::Active => {}
        Some(_) => return Err(ApiError::tenant_suspended()),
        None => return Err(ApiError::unauthorized()),
    }
    let scope = TenantScope::new(key.tenant_id);
    let creator = key.created_by.ok_or_else(ApiError::unauthorized)?;
    let role = creator_role(state, &scope, creator).await?;
    state
        .store
        .api_keys()
        .touch(&scope, key.id, state.store.now())
        .await?;
    Ok(Authenticated {
        principal: Principal::ApiKey {
            key_id: key.id.to_string(),
            tenant_id: key.tenant_id.to_string(),
            role,
        },
        user_id: key.created_by,
        label: format!("api_key:{}", key.id),
        session_id: None,
        email: None,
        masquerading_from: None,
        masquerader_email: None,
    })
}

/// The role a key of `creator` acts with in the scope's tenant: the
/// creator's current membership role, or admin for a super admin; 401 if
/// the creator is disabled, gone or no longer a member.
async fn creator_role(
    state: &AdminState,
    scope: &TenantScope,
    creator: UserId,
) -> Result<TenantRole, ApiError> {
    match state.store.users().get(creator).await? {
        Some(u) if u.status == UserStatus::Active => {}
        _ => return Err(ApiError::unauthorized()),
    }
    match state.store.memberships().role_in(scope, creator).await? {
        Some(parla_admin_core::domain::TenantRole::Admin) => return Ok(TenantRole::Admin),
        Some(parla_admin_core::domain::TenantRole::Agent) => return Ok(TenantRole::Agent),
        None => {}
    }
    let roles = state.store.memberships().roles_of(creator).await?;
    if roles.iter().any(|m| m.role == Role::SuperAdmin) {
        return Ok(TenantRole::Admin);
    }
    Err(ApiError::unauthorized())
}
