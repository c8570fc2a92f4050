//! Server-rendered web panel of the admin plane, mounted under `/panel`.
//!
//! askama templates (`admin/templates/panel/`, type-checked at compile
//! time), htmx for the few interactive bits (live dashboard figures, call
//! filters, confirmations), CSS and JavaScript embedded in the binary: no
//! Node build step. English and Spanish UI strings ([`i18n`]).
//!
//! Security: the session cookie is the one of the login service
//! (`HttpOnly`, `SameSite=Lax`, `Secure` when configured); every POST
//! carries the session's CSRF token (hidden form field or the
//! `X-CSRF-Token` header that htmx sends, see `base.html`); a strict
//! `Content-Security-Policy` (no inline scripts or styles); tenant
//! resources are reached through `/panel/t/{tenant}/…` and a foreign tenant
//! is a 404 page; only the super admin sees and uses delete buttons.
//!
//! Pages: login (+ TOTP step), dashboard, tenants (super admin, with "log in
//! as"), users, API keys, agents, phone numbers, SIP trunks, calls (list +
//! detail with transcript, latency waterfall and recording), audit log,
//! account (password change, TOTP enrolment).

use std::path::PathBuf;
use std::sync::Arc;

use actix_web::{middleware, web};

use crate::state::AdminState;

mod account;
mod agents;
mod api_keys;
mod assets;
mod audit_log;
mod call_detail;
mod calls;
mod dashboard;
mod error;
mod fmt;
pub mod i18n;
mod layer;
mod live;
mod login;
mod numbers;
mod outcome;
mod tenants;
mod trunks;
mod ui;
mod users;
mod viewer;

pub use error::PanelError;

/// Process-wide figures of the call engine, for the super admin's
/// dashboard. Implemented by the binary on top of the engine's live call
/// registry and its voice-to-voice hdrhistograms.
pub trait EngineStats: Send + Sync {
    /// A consistent snapshot of the current figures (cheap: called on every
    /// dashboard refresh, every few seconds per open dashboard).
    fn snapshot(&self) -> EngineSnapshot;
}

/// What [`EngineStats::snapshot`] reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineSnapshot {
    /// Calls currently up on this engine (all tenants).
    pub live_calls: u64,
    /// Median voice-to-voice latency in milliseconds (caller stops
    /// speaking → first agent audio), `None` without samples.
    pub v2v_p50_ms: Option<u64>,
    /// 95th percentile voice-to-voice latency in milliseconds.
    pub v2v_p95_ms: Option<u64>,
    /// Number of turns the percentiles are computed from.
    pub v2v_samples: u64,
}

/// Deployment options of the panel.
#[derive(Clone, Default)]
pub struct PanelOptions {
    /// Directory the engine writes call recordings to. Recordings are only
    /// served from inside it (a record whose path resolves elsewhere is a
    /// 404); `None` disables the audio player.
    pub recordings_dir: Option<PathBuf>,
    /// Engine-wide figures for the super admin's dashboard; `None` shows
    /// only the figures computed from the call records.
    pub engine_stats: Option<Arc<dyn EngineStats>>,
}

/// Registers the panel under `/panel` (pages, assets, forms). Mount it next
/// to the API: `App::new().configure(|c| { api::configure(c, state.clone());
/// panel::configure(c, state, options) })`.
pub fn configure(
    cfg: &mut web::ServiceConfig,
    state: web::Data<AdminState>,
    options: PanelOptions,
) {
    cfg.service(
        web::scope("/panel")
            .app_data(state)
            .app_data(web::Data::new(options))
            .app_data(
                web::FormConfig::default()
                    .limit(256 * 1024)
                    .error_handler(|e, _| form_error(e).into()),
            )
            .app_data(
                web::QueryConfig::default().error_handler(|_, _| PanelError::BadRequest.into()),
            )
            .app_data(web::PathConfig::default().error_handler(|_, _| PanelError::NotFound.into()))
            .wrap(middleware::from_fn(layer::pages))
            .configure(routes)
            .default_service(web::to(layer::not_found)),
    );
}

/// A form body that could not be read: 413 over the size limit, else 400.
fn form_error(err: actix_web::error::UrlencodedError) -> PanelError {
    match err {
        actix_web::error::UrlencodedError::Overflow { .. } => PanelError::PayloadTooLarge,
        _ => PanelError::BadRequest,
    }
}

fn routes(cfg: &mut web::ServiceConfig) {
    use web::{get, post};
    cfg.route("/", get().to(dashboard::home))
        .route("/stats", get().to(dashboard::global_stats))
        .route("/assets/{name}", get().to(assets::serve))
        .route("/lang/{code}", get().to(viewer::set_lang))
        .route("/login", get().to(login::form))
        .route("/login", post().to(login::submit))
        .route("/login/2fa", post().to(login::second_factor))
        .route("/logout", post().to(login::logout))
        .route("/masquerade/end", post().to(login::end_masquerade))
        .route("/account", get().to(account::page))
        .route("/account/password", post().to(account::change_password))
        .route("/account/totp/begin", post().to(account::totp_begin))
        .route("/account/totp/confirm", post().to(account::totp_confirm))
        .route("/account/totp/disable", post().to(account::totp_disable))
        .route("/tenants", get().to(tenants::list))
        .route("/tenants", post().to(tenants::create))
        .route("/tenants/{tid}/status", post().to(tenants::set_status))
        .route("/tenants/{tid}/delete", post().to(tenants::delete))
        .route(
            "/tenants/{tid}/masquerade",
            post().to(login::start_masquerade),
        )
        .route("/audit", get().to(audit_log::global))
        .route("/t/{tid}/", get().to(dashboard::tenant))
        .route("/t/{tid}/stats", get().to(dashboard::tenant_stats))
        .route("/t/{tid}/users", get().to(users::list))
        .route("/t/{tid}/users", post().to(users::create))
        .route("/t/{tid}/users/{id}/remove", post().to(users::remove))
        .route("/t/{tid}/api-keys", get().to(api_keys::list))
        .route("/t/{tid}/api-keys", post().to(api_keys::create))
        .route("/t/{tid}/api-keys/{id}/revoke", post().to(api_keys::revoke))
        .route("/t/{tid}/api-keys/{id}/delete", post().to(api_keys::delete))
        .route("/t/{tid}/agents", get().to(agents::list))
        .route("/t/{tid}/agents", post().to(agents::create))
        .route("/t/{tid}/agents/new", get().to(agents::new_form))
        .route("/t/{tid}/agents/{id}", get().to(agents::edit_form))
        .route("/t/{tid}/agents/{id}", post().to(agents::update))
        .route("/t/{tid}/agents/{id}/delete", post().to(agents::delete))
        .route("/t/{tid}/numbers", get().to(numbers::list))
        .route("/t/{tid}/numbers", post().to(numbers::create))
        .route("/t/{tid}/numbers/{id}", get().to(numbers::edit_form))
        .route("/t/{tid}/numbers/{id}", post().to(numbers::update))
        .route("/t/{tid}/numbers/{id}/delete", post().to(numbers::delete))
        .route("/t/{tid}/trunks", get().to(trunks::list))
        .route("/t/{tid}/trunks", post().to(trunks::create))
        .route("/t/{tid}/trunks/new", get().to(trunks::new_form))
        .route("/t/{tid}/trunks/{id}", get().to(trunks::edit_form))
        .route("/t/{tid}/trunks/{id}", post().to(trunks::update))
        .route("/t/{tid}/trunks/{id}/delete", post().to(trunks::delete))
        .route("/t/{tid}/calls", get().to(calls::list))
        .route("/t/{tid}/calls/{id}", get().to(call_detail::page))
        .route("/t/{tid}/calls/{id}/hangup", post().to(live::hangup))
        .route("/live", get().to(live::list))
        .route(
            "/t/{tid}/calls/{id}/recording",
            get().to(call_detail::recording),
        )
        .route("/t/{tid}/audit", get().to(audit_log::tenant));
}
