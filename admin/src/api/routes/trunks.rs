//! SIP trunks of a tenant (carrier connections). The digest password is
//! accepted on write, encrypted with the state's secret key (bound to the
//! tenant and column), and never returned: responses carry
//! `auth_password_set`. Managing trunks needs the rights to manage agents
//! and numbers (not the tenant role `agent`); deleting is super admin only.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::api::auth::Authenticated;
use crate::api::error::ApiError;
use crate::api::json_body::JsonBody;
use crate::api::openapi::{Conflict, Forbidden, ItemPath, TenantPath};
use crate::auth::secrets::associated_data;
use crate::domain::{Host, Name, Opaque, TenantId, Timestamp, Transport, TrunkId};
use crate::store::{DeleteGrant, Paged, SecretChange, SipTrunk, TenantScope, TrunkSpec};

use super::tenants::field;
use super::{
    created, found, paged_view, require, scope_and_id, tenant_scope, Change, PageQuery, State,
};

/// The module's operations, merged into the document by
/// [`crate::api::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, get, update, delete))]
pub(super) struct Doc;

/// Longest accepted digest user name and password, in bytes.
const MAX_CREDENTIAL_BYTES: usize = 256;

/// `Some(None)` for an explicit `null`, `Some(Some(v))` for a value (with
/// `#[serde(default)]`, `None` when absent).
fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Body of POST (absent fields take defaults) and PATCH (absent fields keep
/// their value; `auth_user`/`auth_password` null clears them).
#[derive(Deserialize, ToSchema)]
pub(super) struct TrunkInput {
    /// Unique within the tenant (required on create).
    #[schema(value_type = Option<Name>)]
    name: Option<String>,
    /// Carrier host name or IP address (required on create).
    #[schema(value_type = Option<Host>)]
    host: Option<String>,
    /// Carrier port, 1–65535 (default 5060).
    #[schema(minimum = 1, maximum = 65535)]
    port: Option<i64>,
    /// SIP transport (default `udp`).
    #[schema(value_type = Option<Transport>)]
    transport: Option<String>,
    /// Digest user name; null clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 256)]
    auth_user: Option<Option<String>>,
    /// Digest password, stored encrypted and never returned; null or ""
    /// clears it, absent keeps it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 256)]
    auth_password: Option<Option<String>>,
    /// Whether to send REGISTER to the carrier (default false).
    register: Option<bool>,
}

impl TrunkInput {
    /// The spec: this body's fields over `base` (the current trunk, or the
    /// defaults for a new one). 422 with every invalid field.
    fn spec(&self, base: Option<&SipTrunk>) -> Result<TrunkSpec, ApiError> {
        let mut err = ApiError::validation();
        let name: Option<Name> = match (&self.name, base) {
            (None, Some(b)) => Some(b.name.clone()),
            (n, _) => field(&mut err, "name", Some(n.as_deref().unwrap_or_default())),
        };
        let host: Option<Host> = match (&self.host, base) {
            (None, Some(b)) => Some(b.host.clone()),
            (h, _) => field(&mut err, "host", Some(h.as_deref().unwrap_or_default())),
        };
        let port = match (self.port, base) {
            (None, Some(b)) => Some(b.port),
            (None, None) => Some(5060),
            (Some(p), _) => u16::try_from(p).ok().filter(|p| *p > 0),
        };
        if port.is_none() {
            err = err.with_field("port", "must be from 1 to 65535");
        }
        let transport: Option<Transport> = match (&self.transport, base) {
            (None, Some(b)) => Some(b.transport),
            (None, None) => Some(Transport::Udp),
            (Some(t), _) => field(&mut err, "transport", Some(t)),
        };
        let auth_user = match &self.auth_user {
            None => base.and_then(|b| b.auth_user.clone()),
            Some(u) => u.clone().filter(|u| !u.is_empty()),
        };
        if auth_user
            .as_ref()
            .is_some_and(|u| u.len() > MAX_CREDENTIAL_BYTES || u.chars().any(char::is_control))
        {
            err = err.with_field("auth_user", "at most 256 bytes, no control characters");
        }
        if matches!(&self.auth_password, Some(Some(p)) if p.len() > MAX_CREDENTIAL_BYTES) {
            err = err.with_field("auth_password", "at most 256 bytes");
        }
        let (Some(name), Some(host), Some(port), Some(transport), false) =
            (name, host, port, transport, err.has_fields())
        else {
            return Err(err);
        };
        Ok(TrunkSpec {
            name,
            host,
            port,
            transport,
            auth_user,
            register: self
                .register
                .unwrap_or_else(|| base.is_some_and(|b| b.register)),
        })
    }

    /// What to do with the stored password (a new one is encrypted).
    fn password(&self, state: &State, scope: &TenantScope) -> Result<SecretChange, ApiError> {
        match &self.auth_password {
            None => Ok(SecretChange::Keep),
            Some(None) => Ok(SecretChange::Clear),
            Some(Some(p)) if p.is_empty() => Ok(SecretChange::Clear),
            Some(Some(p)) => {
                let ad = associated_data(
                    "sip_trunks",
                    &scope.tenant().to_string(),
                    "auth_password_enc",
                );
                let enc = state
                    .secrets
                    .encrypt_str(p, &ad)
                    .map_err(ApiError::internal)?;
                Ok(SecretChange::Set(Opaque::new(enc)))
            }
        }
    }
}

/// A trunk as the API shows it: without the password (only whether one
/// is set).
#[derive(Serialize, ToSchema)]
pub(super) struct TrunkView {
    id: TrunkId,
    tenant_id: TenantId,
    name: Name,
    host: Host,
    port: u16,
    transport: Transport,
    auth_user: Option<String>,
    /// Whether a digest password is stored.
    auth_password_set: bool,
    register: bool,
    created_at: Timestamp,
}

fn view(t: &SipTrunk) -> TrunkView {
    TrunkView {
        id: t.id,
        tenant_id: t.tenant_id,
        name: t.name.clone(),
        host: t.host.clone(),
        port: t.port,
        transport: t.transport,
        auth_user: t.auth_user.clone(),
        auth_password_set: t.auth_password_enc.is_some(),
        register: t.register,
        created_at: t.created_at,
    }
}

/// The view as the audit log's before/after document.
fn audit_view(t: &SipTrunk) -> Option<serde_json::Value> {
    serde_json::to_value(view(t)).ok()
}

#[utoipa::path(
    post,
    path = "/tenants/{tid}/trunks",
    tag = "trunks",
    params(TenantPath),
    request_body = TrunkInput,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The created trunk", body = TrunkView),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    )
)]
pub(super) async fn create(
    state: State,
    req: HttpRequest,
    who: Authenticated,
    path: web::Path<String>,
    body: JsonBody<TrunkInput>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    require(who.principal.can_manage_agents_and_numbers())?;
    let spec = body.spec(None)?;
    let password = match body.password(&state, &scope)? {
        SecretChange::Set(enc) => Some(enc),
        SecretChange::Keep | SecretChange::Clear => None,
    };
    let t = state
        .store
        .trunks()
        .create(&scope, &spec, password.as_ref())
        .await?;
    Change::created("trunk.create", Some(scope.tenant()), t.id, audit_view(&t))
        .record(&state, &req, &who)
        .await?;
    Ok(created(view(&t)))
}

#[utoipa::path(
    get,
    path = "/tenants/{tid}/trunks",
    tag = "trunks",
    params(TenantPath, PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of trunks, by name", body = Paged<TrunkView>))
)]
pub(super) async fn list(
    state: State,
    who: Authenticated,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    let page = q.page()?;
    let p = state.store.trunks().list(&scope, page).await?;
    Ok(paged_view(p, view))
}

async fn load(
    state: &State,
    who: &Authenticated,
    tid: &str,
    id: &str,
) -> Result<(TenantScope, SipTrunk), ApiError> {
    let (scope, id) = scope_and_id::<TrunkId>(state, who, tid, id).await?;
    let t = found(state.store.trunks().get(&scope, id).await?)?;
    Ok((scope, t))
}

#[utoipa::path(
    get,
    path = "/tenants/{tid}/trunks/{id}",
    tag = "trunks",
    params(ItemPath),
    security(("bearer" = [])),
    responses((status = 200, description = "The trunk", body = TrunkView))
)]
pub(super) async fn get(
    state: State,
    who: Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, t) = load(&state, &who, &path.0, &path.1).await?;
    Ok(HttpResponse::Ok().json(view(&t)))
}

#[utoipa::path(
    patch,
    path = "/tenants/{tid}/trunks/{id}",
    tag = "trunks",
    params(ItemPath),
    request_body = TrunkInput,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated trunk", body = TrunkView),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    )
)]
pub(super) async fn update(
    state: State,
    req: HttpRequest,
    who: Authenticated,
    path: web::Path<(String, String)>,
    body: JsonBody<TrunkInput>,
) -> Result<HttpResponse, ApiError> {
    let (scope, before) = load(&state, &who, &path.0, &path.1).await?;
    require(who.principal.can_manage_agents_and_numbers())?;
    let spec = body.spec(Some(&before))?;
    let password = body.password(&state, &scope)?;
    let t = state
        .store
        .trunks()
        .update(&scope, before.id, &spec, &password)
        .await?;
    Change::updated(
        "trunk.update",
        Some(scope.tenant()),
        t.id,
        audit_view(&before),
        audit_view(&t),
    )
    .record(&state, &req, &who)
    .await?;
    Ok(HttpResponse::Ok().json(view(&t)))
}

#[utoipa::path(
    delete,
    path = "/tenants/{tid}/trunks/{id}",
    tag = "trunks",
    params(ItemPath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, response = Forbidden),
    )
)]
pub(super) async fn delete(
    state: State,
    req: HttpRequest,
    who: Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (scope, before) = load(&state, &who, &path.0, &path.1).await?;
    require(who.principal.can_delete())?;
    state
        .store
        .trunks()
        .delete(&scope, &DeleteGrant::super_admin(), before.id)
        .await?;
    Change::deleted(
        "trunk.delete",
        Some(scope.tenant()),
        before.id,
        audit_view(&before),
    )
    .record_deletion(&state, &req, &who)
    .await
}
