//! The OpenAPI 3.1 document of `/api/v1`, generated with utoipa from the
//! handlers' `#[utoipa::path]` annotations and the `ToSchema` types, and
//! served at `GET /api/v1/openapi.json` (no authentication).
//!
//! # Documenting a route
//!
//! 1. Annotate the handler (path as registered in `routes::register`,
//!    without the `/api/v1` prefix):
//!    ```text
//!    #[utoipa::path(get, path = "/tenants/{tid}/agents/{id}", tag = "agents",
//!        params(("tid" = TenantId, Path, description = "Tenant id"),
//!               ("id" = AgentId, Path, description = "Agent id")),
//!        security(("bearer" = [])),
//!        responses((status = 200, description = "The agent", body = AgentView),
//!                  (status = 403, response = Forbidden)))]
//!    ```
//!    Responses are typed structs deriving `Serialize` and `ToSchema`
//!    (never `serde_json::json!`), so the document is what is sent.
//! 2. List the handler in its module's `Doc`
//!    (`#[derive(utoipa::OpenApi)] #[openapi(paths(…))] pub(super) struct Doc;`)
//!    and that `Doc` in `routes::docs()`.
//!
//! [`Conventions`] then adds what every operation of a kind can answer, so
//! handlers list only their own statuses: 401 and 403 (suspended tenant,
//! missing CSRF token) when it has `security`, which also gets the session
//! cookie as an alternative to the bearer token; 400
//! when it has a body, 422 when it has a body or query parameters, 404
//! when its path has parameters, and 429 and 500 always.
//!
//! `tests/it/api_openapi.rs` fails when a registered route is not documented.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, OpenApi};

mod responses;

pub use responses::{
    BadRequest, Conflict, Forbidden, InternalError, NotFound, TooManyRequests, Unauthorized,
    Unavailable, Validation,
};

/// Where the API is mounted; documented paths are relative to it.
pub const PREFIX: &str = "/api/v1";

/// Name of the security scheme of `Authorization: Bearer …`.
pub const BEARER: &str = "bearer";

/// Name of the security scheme of the session cookie (the alternative to
/// [`BEARER`] on every secured operation).
pub const COOKIE: &str = "cookie";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Parla admin API",
        version = "1",
        description = "Tenants, users, voice agents, phone numbers, API keys, call records and \
            the audit log of a Parla deployment. Every error has the body \
            `{\"error\": {\"code\", \"message\", \"fields\"}}`. Lists take `page` (from 1) and \
            `per_page` (1 to 100, default 20) and answer `{items, total, page, per_page}`."
    ),
    paths(serve),
    components(schemas(super::error::Body)),
    tags(
        (name = "auth", description = "Login and the caller's identity"),
        (name = "tenants", description = "Tenants (super admin)"),
        (name = "users", description = "Users of a tenant"),
        (name = "agents", description = "Voice agents of a tenant"),
        (name = "numbers", description = "Phone numbers of a tenant"),
        (name = "api-keys", description = "API keys of a tenant"),
        (name = "calls", description = "Call records and the audit log of a tenant"),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

/// The whole document: every route module's operations under [`PREFIX`],
/// with the shared error responses and the bearer security scheme.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    for part in super::routes::docs() {
        doc.merge(part);
    }
    doc.paths.paths = std::mem::take(&mut doc.paths.paths)
        .into_iter()
        .map(|(path, item)| (format!("{PREFIX}{path}"), item))
        .collect();
    Conventions.modify(&mut doc);
    doc
}

/// The document as JSON, rendered once.
fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        document()
            .to_json()
            .unwrap_or_else(|e| format!("{{\"error\":\"openapi: {e}\"}}"))
    })
}

/// `GET /api/v1/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = Object))
)]
pub(crate) async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document_json())
}

/// Adds the shared error responses and the bearer security scheme (see the
/// module docs for which operation gets which status).
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.responses.extend(responses::components());
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key (`pk_…`, created under /tenants/{tid}/api-keys) or the \
                         session token returned by POST /auth/login",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            COOKIE,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                parla_admin_core::auth::SESSION_COOKIE.to_owned(),
                format!(
                    "The session cookie set by POST /auth/login; POST, PUT, PATCH and DELETE \
                     must also send the session's CSRF token in `{}` (403 otherwise)",
                    parla_admin_core::auth::CSRF_HEADER
                ),
            ))),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            let has_path_params = path.contains('{');
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                add_conventional_responses(op, has_path_params);
            }
        }
    }
}

/// The statuses `op` can answer whatever its handler does, and the cookie
/// alternative to its bearer security.
fn add_conventional_responses(op: &mut Operation, has_path_params: bool) {
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    if let Some(security) = op.security.as_mut().filter(|s| !s.is_empty()) {
        let cookie = SecurityRequirement::new(COOKIE, Vec::<String>::new());
        if !security.contains(&cookie) {
            security.push(cookie);
        }
    }
    let has_body = op.request_body.is_some();
    let has_query = op
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query));
    let applies = |status: u16| match status {
        400 | 413 => has_body,
        // 403 also for a suspended tenant or a missing CSRF token.
        401 | 403 => secured,
        404 => has_path_params,
        422 => has_body || has_query,
        429 | 500 => true,
        _ => false,
    };
    for &(status, name) in responses::ALL {
        if applies(status) {
            op.responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
        }
    }
}

/// Path parameters of `/tenants/{tid}/…` collections.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TenantPath {
    /// Tenant id (UUID v7).
    #[param(value_type = parla_admin_core::domain::TenantId)]
    pub tid: String,
}

/// Path parameters of `/tenants/{tid}/<collection>/{id}` items.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ItemPath {
    /// Tenant id (UUID v7).
    #[param(value_type = parla_admin_core::domain::TenantId)]
    pub tid: String,
    /// Id of the item (UUID v7).
    #[param(value_type = String, format = Uuid)]
    pub id: String,
}
