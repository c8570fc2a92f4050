//! `PanelError`: why a panel request did not produce its page. The
//! response body is a bare status here; the `layer` middleware replaces it
//! with an HTML page in the viewer's language (it sees the request, the
//! error does not).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use parla_admin_core::service::login::LoginError;
use parla_admin_core::store::StoreError;

/// A failed panel request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PanelError {
    /// No valid session: redirect to the login page (303; for htmx requests
    /// an `HX-Redirect` header).
    #[error("login required")]
    LoginRequired,
    /// 403: a POST without the session's CSRF token, or an action the role
    /// does not allow.
    #[error("forbidden")]
    Forbidden,
    /// 404: unknown page or resource, or another tenant's.
    #[error("not found")]
    NotFound,
    /// 400: an unreadable form or query string.
    #[error("bad request")]
    BadRequest,
    /// 413: a form larger than the limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// 429: too many failed attempts (seconds to wait).
    #[error("too many attempts")]
    TooManyRequests(u64),
    /// 500: logged, never shown.
    #[error("internal error")]
    Internal,
}

impl PanelError {
    /// Logs `detail` and returns [`PanelError::Internal`].
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "panel internal error");
        PanelError::Internal
    }
}

impl ResponseError for PanelError {
    fn status_code(&self) -> StatusCode {
        match self {
            PanelError::LoginRequired => StatusCode::SEE_OTHER,
            PanelError::Forbidden => StatusCode::FORBIDDEN,
            PanelError::NotFound => StatusCode::NOT_FOUND,
            PanelError::BadRequest => StatusCode::BAD_REQUEST,
            PanelError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            PanelError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            PanelError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        match self {
            PanelError::LoginRequired => {
                res.insert_header(("Location", "/panel/login"));
            }
            PanelError::TooManyRequests(secs) => {
                res.insert_header(("Retry-After", secs.to_string()));
            }
            _ => {}
        }
        res.finish()
    }
}

impl From<StoreError> for PanelError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => PanelError::NotFound,
            other => PanelError::internal(other),
        }
    }
}

impl From<LoginError> for PanelError {
    fn from(err: LoginError) -> Self {
        PanelError::of_login(&err)
    }
}

impl PanelError {
    /// The page error for a login-service failure: login required, 403,
    /// 404, 400 for invalid input, 429 with `Retry-After`, else 500.
    pub(crate) fn of_login(err: &LoginError) -> Self {
        match err {
            LoginError::Unauthorized => PanelError::LoginRequired,
            LoginError::Forbidden | LoginError::TenantSuspended => PanelError::Forbidden,
            LoginError::NotFound | LoginError::Store(StoreError::NotFound) => PanelError::NotFound,
            LoginError::Invalid { .. } => PanelError::BadRequest,
            LoginError::TooManyRequests(secs) => PanelError::TooManyRequests(*secs),
            LoginError::Conflict(_) | LoginError::Store(StoreError::Conflict { .. }) => {
                PanelError::Internal
            }
            LoginError::Store(other) => PanelError::internal(other),
            LoginError::Internal(detail) => PanelError::internal(detail),
        }
    }
}

/// The HTTP status the JSON API gives `err` (the panel's login and account
/// pages answer with the same).
pub(crate) fn login_status(err: &LoginError) -> u16 {
    match err {
        LoginError::Unauthorized => 401,
        LoginError::Forbidden | LoginError::TenantSuspended => 403,
        LoginError::NotFound | LoginError::Store(StoreError::NotFound) => 404,
        LoginError::Conflict(_) | LoginError::Store(StoreError::Conflict { .. }) => 409,
        LoginError::Invalid { .. } => 422,
        LoginError::TooManyRequests(_) => 429,
        LoginError::Store(_) | LoginError::Internal(_) => 500,
    }
}

impl From<askama::Error> for PanelError {
    fn from(err: askama::Error) -> Self {
        PanelError::internal(err)
    }
}
