//! Handlers of `/api/v1`, one module per resource, and their shared helpers
//! (tenant resolution, pagination, audit).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use parla_admin_core::auth::Principal;
use parla_admin_core::domain::TenantId;
use parla_admin_core::store::{NewAuditEntry, Page, Paged, TenantScope};

use super::app::AdminState;
use super::auth::Caller;
use super::error::{parse_id, ApiError};

/// The service context ([`parla_admin_core::service::Ctx`]) of a request: the
/// state's store and secret key, acting as `$who` from the request's
/// client address.
macro_rules! service_ctx {
    ($state:expr, $req:expr, $who:expr) => {
        parla_admin_core::service::Ctx {
            store: &$state.store,
            secrets: &$state.secrets,
            actor: &$who.actor(super::client_ip(&$req)),
        }
    };
}

mod agents;
mod api_keys;
mod calls;
mod live;
mod login;
mod masquerade;
mod me;
mod numbers;
mod tenants;
mod trunks;
mod users;

/// The OpenAPI fragment of every route module (each module's `Doc`), merged
/// into the document by [`super::openapi::document`]. A module whose routes
/// are registered below must be listed here (tests/it/api_openapi.rs checks).
pub(super) fn docs() -> Vec<utoipa::openapi::OpenApi> {
    use utoipa::OpenApi;
    vec![
        agents::Doc::openapi(),
        api_keys::Doc::openapi(),
        numbers::Doc::openapi(),
        calls::Doc::openapi(),
        live::Doc::openapi(),
        login::Doc::openapi(),
        me::Doc::openapi(),
        masquerade::Doc::openapi(),
        trunks::Doc::openapi(),
        users::Doc::openapi(),
        tenants::Doc::openapi(),
    ]
}

pub(crate) fn register(cfg: &mut web::ServiceConfig) {
    cfg.route("/openapi.json", web::get().to(super::openapi::serve))
        .route("/auth/login", web::post().to(login::login))
        .route(
            "/auth/login/second-factor",
            web::post().to(login::second_factor),
        )
        .route("/auth/logout", web::post().to(login::logout))
        .route("/auth/masquerade/end", web::post().to(masquerade::end))
        .route("/me", web::get().to(me::me))
        .route("/me/password", web::post().to(me::change_password))
        .route("/me/totp", web::post().to(me::totp_begin))
        .route("/me/totp", web::delete().to(me::totp_disable))
        .route("/me/totp/confirm", web::post().to(me::totp_confirm))
        .route(
            "/tenants/{tid}/masquerade",
            web::post().to(masquerade::start),
        )
        .route("/tenants", web::post().to(tenants::create))
        .route("/tenants", web::get().to(tenants::list))
        .route("/tenants/{tid}", web::get().to(tenants::get))
        .route("/tenants/{tid}", web::patch().to(tenants::update))
        .route("/tenants/{tid}", web::delete().to(tenants::delete))
        .route("/tenants/{tid}/users", web::post().to(users::create))
        .route("/tenants/{tid}/users", web::get().to(users::list))
        .route("/tenants/{tid}/users/{id}", web::get().to(users::get))
        .route("/tenants/{tid}/users/{id}", web::patch().to(users::update))
        .route("/tenants/{tid}/users/{id}", web::delete().to(users::delete))
        .route("/tenants/{tid}/trunks", web::post().to(trunks::create))
        .route("/tenants/{tid}/trunks", web::get().to(trunks::list))
        .route("/tenants/{tid}/trunks/{id}", web::get().to(trunks::get))
        .route(
            "/tenants/{tid}/trunks/{id}",
            web::patch().to(trunks::update),
        )
        .route(
            "/tenants/{tid}/trunks/{id}",
            web::delete().to(trunks::delete),
        )
        .route("/tenants/{tid}/agents", web::post().to(agents::create))
        .route("/tenants/{tid}/agents", web::get().to(agents::list))
        .route("/tenants/{tid}/agents/{id}", web::get().to(agents::get))
        .route("/tenants/{tid}/agents/{id}", web::put().to(agents::update))
        .route(
            "/tenants/{tid}/agents/{id}",
            web::delete().to(agents::delete),
        )
        .route("/tenants/{tid}/numbers", web::post().to(numbers::create))
        .route("/tenants/{tid}/numbers", web::get().to(numbers::list))
        .route("/tenants/{tid}/numbers/{id}", web::get().to(numbers::get))
        .route(
            "/tenants/{tid}/numbers/{id}",
            web::patch().to(numbers::update),
        )
        .route(
            "/tenants/{tid}/numbers/{id}",
            web::delete().to(numbers::delete),
        )
        .route("/tenants/{tid}/api-keys", web::post().to(api_keys::create))
        .route("/tenants/{tid}/api-keys", web::get().to(api_keys::list))
        .route(
            "/tenants/{tid}/api-keys/{id}/revoke",
            web::post().to(api_keys::revoke),
        )
        .route(
            "/tenants/{tid}/api-keys/{id}",
            web::delete().to(api_keys::delete),
        )
        .route("/tenants/{tid}/calls", web::get().to(calls::list))
        .route("/tenants/{tid}/calls", web::post().to(calls::originate))
        .route("/tenants/{tid}/calls/{id}", web::get().to(calls::get))
        .route("/tenants/{tid}/calls/{id}", web::delete().to(calls::cancel))
        .route(
            "/tenants/{tid}/calls/{id}/events",
            web::get().to(live::events),
        )
        .route(
            "/tenants/{tid}/calls/{id}/hangup",
            web::post().to(live::hangup),
        )
        .route("/tenants/{tid}/calls/{id}/say", web::post().to(live::say))
        .route(
            "/tenants/{tid}/live-calls",
            web::get().to(live::list_tenant),
        )
        .route("/live-calls", web::get().to(live::list_all))
        .route("/tenants/{tid}/audit", web::get().to(calls::audit));
}

type State = web::Data<AdminState>;

/// The scope of tenant `tid` if the caller may see it; 404 otherwise (also
/// for other tenants, so their existence is not revealed).
pub(super) async fn tenant_scope(
    state: &AdminState,
    who: &Caller,
    tid: &str,
) -> Result<TenantScope, ApiError> {
    let id: TenantId = parse_id(tid)?;
    if !who.principal.can_access_tenant(&id.to_string()) {
        return Err(ApiError::not_found());
    }
    if matches!(who.principal, Principal::SuperAdmin { .. })
        && state.store.tenants().get(id).await?.is_none()
    {
        return Err(ApiError::not_found());
    }
    Ok(TenantScope::new(id))
}

/// The scope of tenant `tid` (as [`tenant_scope`]) and the item id `id`
/// of that tenant's collection, parsed (404 if it cannot be an id).
pub(super) async fn scope_and_id<I: std::str::FromStr>(
    state: &AdminState,
    who: &Caller,
    tid: &str,
    id: &str,
) -> Result<(TenantScope, I), ApiError> {
    let scope = tenant_scope(state, who, tid).await?;
    Ok((scope, parse_id(id)?))
}

/// The item, or 404.
pub(super) fn found<T>(item: Option<T>) -> Result<T, ApiError> {
    item.ok_or_else(ApiError::not_found)
}

/// 403 unless `allowed`.
pub(super) fn require(allowed: bool) -> Result<(), ApiError> {
    if allowed {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

/// 403 unless the caller is the super admin.
pub(super) fn require_super_admin(who: &Caller) -> Result<(), ApiError> {
    require(matches!(who.principal, Principal::SuperAdmin { .. }))
}

/// Largest accepted `page` (as documented).
const MAX_PAGE: u32 = 1_000_000;

/// `?page=&per_page=` (defaults 1 and 20, `per_page` at most 100).
/// Read as text so that bad values get a 422 naming the parameter.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PageQuery {
    /// Page number, from 1.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000000, default = 1)]
    page: Option<String>,
    /// Items per page, 1 to 100.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, default = 20)]
    per_page: Option<String>,
}

impl PageQuery {
    pub(super) fn page(&self) -> Result<Page, ApiError> {
        let mut err = ApiError::validation();
        let page = self
            .page
            .as_deref()
            .map_or(Some(1), |p| p.parse::<u32>().ok());
        let per_page = self
            .per_page
            .as_deref()
            .map_or(Some(Page::DEFAULT_PER_PAGE), |p| p.parse::<u32>().ok());
        let page = page.filter(|p| (1..=MAX_PAGE).contains(p));
        if page.is_none() {
            err = err.with_field(
                "page",
                format!("must be a whole number from 1 to {MAX_PAGE}"),
            );
        }
        let per_page = per_page.filter(|p| (1..=Page::MAX_PER_PAGE).contains(p));
        if per_page.is_none() {
            err = err.with_field(
                "per_page",
                format!("must be from 1 to {}", Page::MAX_PER_PAGE),
            );
        }
        match (page, per_page) {
            (Some(p), Some(pp)) => {
                Page::new(p, pp).map_err(|e| ApiError::invalid("page", e.to_string()))
            }
            _ => Err(err),
        }
    }
}

/// What a mutation records in the audit log.
pub(super) struct Change<'a> {
    pub action: &'a str,
    pub tenant: Option<TenantId>,
    pub target: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl<'a> Change<'a> {
    /// A creation: nothing before, `after` after.
    pub(super) fn created(
        action: &'a str,
        tenant: Option<TenantId>,
        target: impl ToString,
        after: Option<serde_json::Value>,
    ) -> Self {
        Self::updated(action, tenant, target, None, after)
    }

    /// An update (or any change with a state before and after).
    pub(super) fn updated(
        action: &'a str,
        tenant: Option<TenantId>,
        target: impl ToString,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Self {
        Change {
            action,
            tenant,
            target: target.to_string(),
            before,
            after,
        }
    }

    /// Records this change in the audit log, by `who`.
    pub(super) async fn record(
        self,
        state: &AdminState,
        req: &HttpRequest,
        who: &Caller,
    ) -> Result<(), ApiError> {
        audit(state, req, who, self).await
    }
}

/// The client address (the TCP peer; proxies are a later step).
pub(super) fn client_ip(req: &HttpRequest) -> Option<String> {
    peer_ip(req).map(|ip| ip.to_string())
}

/// The client address as an IP (throttling, login audit).
pub(super) fn peer_ip(req: &HttpRequest) -> Option<std::net::IpAddr> {
    req.peer_addr().map(|a| a.ip())
}

/// Records an audit entry for a mutation by `who`.
async fn audit(
    state: &AdminState,
    req: &HttpRequest,
    who: &Caller,
    change: Change<'_>,
) -> Result<(), ApiError> {
    state
        .store
        .audit()
        .record(NewAuditEntry {
            actor_user_id: who.user_id,
            actor_label: who.label.clone(),
            tenant_id: change.tenant,
            action: change.action.to_owned(),
            target: change.target,
            before: change.before,
            after: change.after,
            ip: client_ip(req),
            at: state.store.now(),
        })
        .await?;
    Ok(())
}

/// 201 with `body`.
pub(super) fn created(body: impl serde::Serialize) -> HttpResponse {
    HttpResponse::Created().json(body)
}

/// 200 with the page `p`, each item shown by `view`.
pub(super) fn paged_view<T, V: serde::Serialize>(
    p: Paged<T>,
    view: impl Fn(&T) -> V,
) -> HttpResponse {
    HttpResponse::Ok().json(Paged {
        items: p.items.iter().map(view).collect(),
        total: p.total,
        page: p.page,
        per_page: p.per_page,
    })
}
