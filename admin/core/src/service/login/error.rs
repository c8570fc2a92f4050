//! The login service's error: what went wrong, independent of HTTP. The
//! JSON API maps it to its error shape (`From<LoginError> for ApiError`),
//! the panel to its login and account pages.

use crate::store::StoreError;

/// Why a login-service call failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Bad credentials, unknown or expired session or challenge (API: 401
    /// `unauthorized`).
    #[error("unauthorized")]
    Unauthorized,
    /// Signed in but not allowed (API: 403 `forbidden`).
    #[error("forbidden")]
    Forbidden,
    /// The tenant is suspended (API: 403 `tenant_suspended`).
    #[error("tenant suspended")]
    TenantSuspended,
    /// The target (e.g. the tenant to masquerade into) does not exist (API:
    /// 404 `not_found`).
    #[error("not found")]
    NotFound,
    /// An input is wrong: `field` is the request field, `message` says why
    /// (API: 422 `validation_failed` with that field).
    #[error("{field}: {message}")]
    Invalid {
        /// The request field (e.g. `current_password`, `code`).
        field: &'static str,
        /// Human-readable reason.
        message: String,
    },
    /// The state of `field` forbids the call (e.g. TOTP already enabled;
    /// API: 409 `conflict`).
    #[error("conflict on {0}")]
    Conflict(&'static str),
    /// Locked out by the failed-login throttle for `0` more seconds (API:
    /// 429 with `Retry-After`).
    #[error("too many failed attempts; retry after {0} s")]
    TooManyRequests(u64),
    /// A storage error (mapped like any store error).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An unexpected failure; the detail is for logs only, never clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl LoginError {
    /// [`LoginError::Unauthorized`].
    pub fn unauthorized() -> Self {
        LoginError::Unauthorized
    }

    /// [`LoginError::Forbidden`].
    pub fn forbidden() -> Self {
        LoginError::Forbidden
    }

    /// [`LoginError::TenantSuspended`].
    pub fn tenant_suspended() -> Self {
        LoginError::TenantSuspended
    }

    /// [`LoginError::NotFound`].
    pub fn not_found() -> Self {
        LoginError::NotFound
    }

    /// [`LoginError::Invalid`] for `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        LoginError::Invalid {
            field,
            message: message.into(),
        }
    }

    /// [`LoginError::Conflict`] on `field`.
    pub fn conflict(field: &'static str) -> Self {
        LoginError::Conflict(field)
    }

    /// [`LoginError::TooManyRequests`], retry after `secs` seconds.
    pub fn too_many_requests(secs: u64) -> Self {
        LoginError::TooManyRequests(secs)
    }

    /// [`LoginError::Internal`] carrying `detail` (logged by whoever maps
    /// it to a response).
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        LoginError::Internal(detail.to_string())
    }

    /// The machine-readable code, as the JSON API reports it:
    /// `unauthorized`, `forbidden`, `tenant_suspended`, `not_found`,
    /// `conflict`, `validation`, `too_many_requests` or `internal_error`.
    pub fn code(&self) -> &'static str {
        match self {
            LoginError::Unauthorized => "unauthorized",
            LoginError::Forbidden => "forbidden",
            LoginError::TenantSuspended => "tenant_suspended",
            LoginError::NotFound | LoginError::Store(StoreError::NotFound) => "not_found",
            LoginError::Conflict(_) | LoginError::Store(StoreError::Conflict { .. }) => "conflict",
            LoginError::Invalid { .. } => "validation",
            LoginError::TooManyRequests(_) => "too_many_requests",
            LoginError::Store(_) | LoginError::Internal(_) => "internal_error",
        }
    }
}
