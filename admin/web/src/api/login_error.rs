//! The login service's errors in the API's error shape.

use parla_admin_core::service::login::LoginError;

use super::error::ApiError;

impl From<LoginError> for ApiError {
    /// 401 `unauthorized`, 403 `forbidden` / `tenant_suspended`, 404,
    /// 409 `conflict`, 422 with the field, 429 with `Retry-After`; store
    /// errors as usual; anything else an opaque 500 (detail logged).
    fn from(err: LoginError) -> Self {
        match err {
            LoginError::Unauthorized => ApiError::unauthorized(),
            LoginError::Forbidden => ApiError::forbidden(),
            LoginError::TenantSuspended => ApiError::tenant_suspended(),
            LoginError::NotFound => ApiError::not_found(),
            LoginError::Invalid { field, message } => ApiError::invalid(field, message),
            LoginError::Conflict(field) => ApiError::conflict(field),
            LoginError::TooManyRequests(secs) => ApiError::too_many_requests(secs),
            LoginError::Store(e) => ApiError::from(e),
            LoginError::Internal(detail) => ApiError::internal(detail),
        }
    }
}
