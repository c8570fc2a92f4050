//! `ApiError`: every failure of the API as
//! `{"error": {"code", "message", "fields": {field: [messages]}}}`.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use parla_admin_core::store::StoreError;

/// An API failure with its HTTP status.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    fields: BTreeMap<String, Vec<String>>,
    retry_after: Option<u64>,
}

/// The body of every error response (documented as `ApiError` in the
/// OpenAPI document).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ApiError)]
pub(crate) struct Body<'a> {
    error: Inner<'a>,
}

/// What went wrong.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ApiErrorDetail)]
struct Inner<'a> {
    /// Machine-readable code, e.g. `validation`, `not_found`.
    #[schema(example = "validation")]
    code: &'a str,
    /// Human-readable message.
    message: &'a str,
    /// Messages per input field (only for field errors such as 422 and 409).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(required = false)]
    fields: &'a BTreeMap<String, Vec<String>>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            fields: BTreeMap::new(),
            retry_after: None,
        }
    }

    /// 400: the request body or query could not be read.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 413 `payload_too_large`: the body is over the limit
    /// ([`JSON_BODY_LIMIT`](super::app::JSON_BODY_LIMIT) bytes).
    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is too large",
        )
    }

    /// 401: missing, malformed, unknown, revoked or expired credentials.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "authentication required",
        )
    }

    /// 403: authenticated but not allowed.
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "you are not allowed to do this",
        )
    }

    /// 403 `tenant_suspended`: the caller's tenant is suspended (its users
    /// and API keys are refused until it is reactivated).
    pub fn tenant_suspended() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "tenant_suspended",
            "this tenant is suspended",
        )
    }

    /// 403 `csrf_failed`: a cookie-authenticated POST/PUT/PATCH/DELETE
    /// without the session's CSRF token (`X-CSRF-Token`).
    pub fn csrf_failed() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "missing or wrong CSRF token",
        )
    }

    /// 404 (also for resources of other tenants, to hide their existence).
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "not found")
    }

    /// 409: a unique value is already taken.
    pub fn conflict(field: &str) -> Self {
        let mut e = Self::new(StatusCode::CONFLICT, "conflict", "already exists");
        e.fields
            .insert(field.to_owned(), vec!["already exists".to_owned()]);
        e
    }

    /// 409 for a request the item's state does not allow (e.g. canceling
    /// an answered call), with `message`.
    pub fn state_conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 503 with `message` (e.g. "calls cannot be placed on this node").
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 422 with one message for `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::validation().with_field(field, message)
    }

    /// 422 without fields yet (add them with [`ApiError::with_field`]).
    pub fn validation() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "invalid input",
        )
    }

    /// Adds a message for `field`.
    pub fn with_field(mut self, field: &str, message: impl Into<String>) -> Self {
        self.fields
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
        self
    }

    /// 429 with `Retry-After: secs`.
    pub fn too_many_requests(secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            format!("too many failed attempts; retry after {secs} s"),
        );
        e.retry_after = Some(secs);
        e
    }

    /// 429 from the request rate limit, with `Retry-After: secs`.
    pub fn rate_limited(secs: u64) -> Self {
        let mut e = Self::too_many_requests(secs);
        e.message = format!("too many requests; retry after {secs} s");
        e
    }

    /// 500; `detail` is logged, never returned.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "admin API internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error",
        )
    }

    /// Whether any field message was collected.
    pub fn has_fields(&self) -> bool {
        !self.fields.is_empty()
    }

    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The `Retry-After` seconds of a 429, if any.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            res.insert_header(("Retry-After", secs.to_string()));
        }
        res.json(Body {
            error: Inner {
                code: self.code,
                message: &self.message,
                fields: &self.fields,
            },
        })
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Conflict { field } => {
                // "tenant.slug" → "slug": the name of the request field.
                ApiError::conflict(field.rsplit('.').next().unwrap_or(field))
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<parla_admin_core::service::ServiceError> for ApiError {
    fn from(err: parla_admin_core::service::ServiceError) -> Self {
        use parla_admin_core::service::ServiceError;
        match err {
            ServiceError::Invalid(fields) => {
                let mut e = ApiError::validation();
                for f in fields.0 {
                    e = e.with_field(&f.field, f.message);
                }
                e
            }
            ServiceError::NotFound => ApiError::not_found(),
            ServiceError::Forbidden => ApiError::forbidden(),
            ServiceError::Conflict { field } => {
                ApiError::conflict(field.rsplit('.').next().unwrap_or(field))
            }
            ServiceError::Internal(detail) => ApiError::internal(detail),
        }
    }
}

/// Body/query/path extractor errors in the API's shape: bad JSON is 400,
/// a body over the limit 413, a bad query string 422, an unparsable path
/// 404.
pub(crate) fn json_error(err: actix_web::error::JsonPayloadError) -> actix_web::Error {
    use actix_web::error::{JsonPayloadError, PayloadError};
    match err {
        JsonPayloadError::Overflow { .. }
        | JsonPayloadError::OverflowKnownLength { .. }
        | JsonPayloadError::Payload(PayloadError::Overflow) => ApiError::payload_too_large().into(),
        err => ApiError::bad_request(format!("malformed JSON body: {err}")).into(),
    }
}

pub(crate) fn query_error(err: actix_web::error::QueryPayloadError) -> actix_web::Error {
    ApiError::validation()
        .with_field("query", err.to_string())
        .into()
}

pub(crate) fn path_error(_err: actix_web::error::PathError) -> actix_web::Error {
    ApiError::not_found().into()
}

/// Parses a path id; anything unparsable is 404 (it cannot exist).
pub(crate) fn parse_id<T: std::str::FromStr>(s: &str) -> Result<T, ApiError> {
    s.parse().map_err(|_| ApiError::not_found())
}
