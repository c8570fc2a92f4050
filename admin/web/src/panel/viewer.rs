//! Who is looking at a panel page: the session (through the login
//! service), its CSRF token, the UI language, and the tenant a
//! `/panel/t/{tid}/…` page is about.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use subtle::ConstantTimeEq;

use crate::state::AdminState;
use parla_admin_core::auth::{Principal, CSRF_HEADER, SESSION_COOKIE};
use parla_admin_core::domain::TenantId;
use parla_admin_core::service::login as login_flow;
use parla_admin_core::service::login::Authenticated;
use parla_admin_core::store::{Tenant, TenantScope};

use super::error::PanelError;
use super::i18n::{Lang, Tr, LANG_COOKIE};
use super::ui::{Chrome, Nav};

/// The value of cookie `name` in the request's `Cookie` header(s).
pub(crate) fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The UI language of a request: the `lang` cookie, else Accept-Language.
pub(crate) fn tr_of(req: &HttpRequest) -> Tr {
    let accept = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Tr(Lang::negotiate(cookie(req, LANG_COOKIE).as_deref(), accept))
}

/// The client address (TCP peer).
pub(crate) fn client_ip(req: &HttpRequest) -> Option<std::net::IpAddr> {
    req.peer_addr().map(|a| a.ip())
}

/// The path and query of the request (for "back here" links).
pub(crate) fn here(req: &HttpRequest) -> String {
    match req.uri().path_and_query() {
        Some(pq) => pq.as_str().to_owned(),
        None => "/panel/".to_owned(),
    }
}

/// Constant-time comparison of a submitted CSRF token with the expected one.
pub(crate) fn tokens_match(expected: &str, submitted: &str) -> bool {
    let submitted = submitted.trim();
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
}

/// An authenticated panel user and the request's UI language.
pub(crate) struct Viewer {
    /// Who, with which rights.
    pub who: Authenticated,
    /// The session's CSRF token (rendered into forms and `hx-headers`).
    pub csrf: String,
    /// The session cookie value.
    pub token: String,
    /// UI strings.
    pub tr: Tr,
    /// Path and query of this request.
    pub here: String,
    /// A one-off message for the page (e.g. "Saved").
    pub notice: Option<String>,
}

/// A tenant the viewer may see, and its scope.
pub(crate) struct Scoped {
    /// Proof of access for the store.
    pub scope: TenantScope,
    /// The tenant row.
    pub tenant: Tenant,
}

impl Viewer {
    /// The viewer of `req`; [`PanelError::LoginRequired`] without a valid
    /// session.
    pub async fn load(state: &AdminState, req: &HttpRequest) -> Result<Viewer, PanelError> {
        let token = cookie(req, SESSION_COOKIE).ok_or(PanelError::LoginRequired)?;
        let (who, csrf) = login_flow::session_principal(state, &token)
            .await
            .map_err(|e| match PanelError::from(e) {
                PanelError::Internal => PanelError::Internal,
                _ => PanelError::LoginRequired,
            })?;
        Ok(Viewer {
            who,
            csrf,
            token,
            tr: tr_of(req),
            here: here(req),
            notice: None,
        })
    }

    /// [`Viewer::load`] for a state-changing request: 403 unless the
    /// request carries the session's CSRF token, in the form field
    /// (`form_token`) or the `X-CSRF-Token` header.
    pub async fn load_post(
        state: &AdminState,
        req: &HttpRequest,
        form_token: &str,
    ) -> Result<Viewer, PanelError> {
        let v = Self::load(state, req).await?;
        let header = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        if tokens_match(&v.csrf, form_token) || tokens_match(&v.csrf, header) {
            Ok(v)
        } else {
            Err(PanelError::Forbidden)
        }
    }

    /// Whether the viewer is the (not masquerading) super admin.
    pub fn is_super(&self) -> bool {
        matches!(self.who.principal, Principal::SuperAdmin { .. })
    }

    /// 403 unless `allowed`.
    pub fn require(&self, allowed: bool) -> Result<(), PanelError> {
        allowed.then_some(()).ok_or(PanelError::Forbidden)
    }

    /// Whether the viewer may manage agents, numbers, trunks and keys.
    pub fn can_manage(&self) -> bool {
        self.who.principal.can_manage_agents_and_numbers()
    }

    /// The viewer as the service layer records it (with the client
    /// address of `req`).
    pub fn actor(&self, req: &HttpRequest) -> parla_admin_core::service::Actor {
        self.who.actor(client_ip(req).map(|ip| ip.to_string()))
    }

    /// Whether the viewer may delete (super admin only).
    pub fn can_delete(&self) -> bool {
        self.who.principal.can_delete()
    }

    /// The viewer's own tenant (tenant users), if any.
    pub fn own_tenant(&self) -> Option<&str> {
        self.who.principal.tenant_id()
    }

    /// Tenant `tid` if the viewer may see it; 404 otherwise (also for
    /// other tenants, so their existence is not revealed).
    pub async fn tenant(&self, state: &AdminState, tid: &str) -> Result<Scoped, PanelError> {
        let id: TenantId = tid.parse().map_err(|_| PanelError::NotFound)?;
        if !self.who.principal.can_access_tenant(&id.to_string()) {
            return Err(PanelError::NotFound);
        }
        let tenant = state
            .store
            .tenants()
            .get(id)
            .await?
            .ok_or(PanelError::NotFound)?;
        Ok(Scoped {
            scope: TenantScope::new(id),
            tenant,
        })
    }

    /// The page frame for `active`, inside `tenant` if given.
    pub fn chrome(&self, title: &str, active: Nav, tenant: Option<&Tenant>) -> Chrome {
        Chrome::signed_in(self, title, active, tenant)
    }
}

/// `GET /panel/lang/{en|es}?next=/panel/…`: stores the choice in the
/// `lang` cookie (a year) and goes back to `next` (only panel paths).
pub(crate) async fn set_lang(
    path: web::Path<String>,
    q: web::Query<std::collections::HashMap<String, String>>,
) -> HttpResponse {
    let lang = Lang::from_code(&path).unwrap_or(Lang::En);
    let next = q
        .get("next")
        .filter(|n| {
            n.starts_with("/panel/") && !n.contains('\\') && n.bytes().all(|b| b.is_ascii_graphic())
        })
        .cloned()
        .unwrap_or_else(|| "/panel/".to_owned());
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next))
        .insert_header((
            header::SET_COOKIE,
            format!(
                "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
                lang.code()
            ),
        ))
        .finish()
}

/// A 303 redirect to `to`.
pub(crate) fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_owned()))
        .finish()
}
