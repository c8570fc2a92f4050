//! SIP trunks of a tenant (carrier connections). The digest password is
//! accepted on write, encrypted with the state's secret key (bound to the
//! tenant and column), and never returned: responses carry
//! `auth_password_set`. Managing trunks needs the rights to manage agents
//! and numbers (not the tenant role `agent`); deleting is super admin only.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::json_body::JsonBody;
use crate::api::openapi::{Conflict, Forbidden, ItemPath, TenantPath};
use parla_admin_core::domain::{Host, Name, Transport, TrunkId};
use parla_admin_core::service::trunks::{self as service, view, TrunkView};
use parla_admin_core::store::{Paged, SipTrunk, TenantScope};

use super::{created, found, paged_view, scope_and_id, tenant_scope, PageQuery, State};

/// The module's operations, merged into the document by
/// [`crate::api::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, get, update, delete))]
pub(super) struct Doc;

/// Longest accepted digest user name and password, in bytes.
/// A present field, null included (absent fields stay `None`).
fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The body of POST (absent fields take the defaults: port 5060, UDP, no
/// credentials, no REGISTER) and PATCH (absent fields are kept).
#[derive(Deserialize, ToSchema)]
pub(super) struct TrunkInput {
    /// Unique within the tenant (required on POST).
    #[schema(value_type = Option<Name>)]
    name: Option<String>,
    /// Carrier host name or IP address (required on POST).
    #[schema(value_type = Option<Host>)]
    host: Option<String>,
    /// Carrier port, 1 to 65535.
    #[schema(minimum = 1, maximum = 65535, default = 5060)]
    port: Option<i64>,
    /// `udp`, `tcp` or `tls`.
    #[schema(value_type = Option<Transport>)]
    transport: Option<String>,
    /// Digest user name (at most 256 bytes); null or empty removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 256)]
    auth_user: Option<Option<String>>,
    /// Digest password (at most 256 bytes), stored encrypted and never
    /// returned; null or empty removes it, absent keeps it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 256)]
    auth_password: Option<Option<String>>,
    /// Whether to REGISTER with the carrier.
    register: Option<bool>,
}

impl TrunkInput {
    fn input(&self) -> service::TrunkInput {
        service::TrunkInput {
            name: self.name.clone(),
            host: self.host.clone(),
            port: self.port,
            transport: self.transport.clone(),
            auth_user: self.auth_user.clone(),
            auth_password: self.auth_password.clone(),
            register: self.register,
        }
    }
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
    who: Caller,
    path: web::Path<String>,
    body: JsonBody<TrunkInput>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    let t = service::create(service_ctx!(state, req, who), &scope, &body.input()).await?;
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
    who: Caller,
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
    who: &Caller,
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
    who: Caller,
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
    who: Caller,
    path: web::Path<(String, String)>,
    body: JsonBody<TrunkInput>,
) -> Result<HttpResponse, ApiError> {
    let (scope, id) = scope_and_id::<TrunkId>(&state, &who, &path.0, &path.1).await?;
    let ctx = service_ctx!(state, req, who);
    let t = service::update(ctx, &scope, id, &body.input()).await?;
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
    who: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (scope, id) = scope_and_id::<TrunkId>(&state, &who, &path.0, &path.1).await?;
    service::delete(service_ctx!(state, req, who), &scope, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
