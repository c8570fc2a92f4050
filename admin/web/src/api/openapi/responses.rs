//! The error responses of the API as reusable OpenAPI response components,
//! all with the `ApiError` body (`{"error": {"code", "message", "fields"}}`).
//!
//! Handlers name the statuses only they produce, e.g.
//! `(status = 403, response = Forbidden)`; the statuses every operation of
//! a kind can produce (401, 429, 500, …) are added by
//! [`super::Conventions`].

use std::collections::BTreeMap;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::ToResponse;

/// Name of the error body schema in `components.schemas`.
pub(super) const ERROR_SCHEMA: &str = "ApiError";

/// A response with the `ApiError` body described by `description`.
fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(ERROR_SCHEMA)))
            .build(),
    )
}

macro_rules! error_responses {
    ($($(#[$meta:meta])* $name:ident = $status:literal, $description:literal;)+) => {
        $(
            $(#[$meta])*
            pub struct $name;

            impl<'r> ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (stringify!($name), build(stringify!($name), $description).into())
                }
            }
        )+

        /// `(status, component name)` of every error response.
        pub(super) const ALL: &[(u16, &str)] = &[$(($status, stringify!($name))),+];

        /// Every error response component, by name.
        pub(super) fn components() -> BTreeMap<String, RefOr<Response>> {
            [$(<$name as ToResponse>::response()),+]
                .into_iter()
                .map(|(name, r)| (name.to_owned(), r))
                .collect()
        }
    };
}

error_responses! {
    /// 400: the body is not JSON of the documented shape.
    BadRequest = 400, "The request body could not be read (malformed JSON, wrong types or wrong content type)";
    /// 401: missing, malformed, unknown, revoked or expired credentials.
    Unauthorized = 401, "Authentication required: missing, unknown, revoked or expired credentials";
    /// 403: authenticated but the role does not allow it.
    Forbidden = 403, "Authenticated, but the caller's role does not allow this";
    /// 404: no such resource, or one of another tenant.
    NotFound = 404, "Not found (also for resources of other tenants, and unparsable ids)";
    /// 413: the body is larger than the limit (256 KiB).
    PayloadTooLarge = 413, "The request body is larger than 256 KiB";
    /// 409: a unique value is taken.
    Conflict = 409, "A unique value is already taken (`fields` names it)";
    /// 422: invalid input, with messages per field.
    Validation = 422, "Invalid input; `fields` holds the messages per field";
    /// 429: rate limited; retry after `Retry-After` seconds.
    TooManyRequests = 429, "Too many requests (rate limit or login throttle); retry after `Retry-After` seconds";
    /// 500: an internal error (details are logged, never returned).
    InternalError = 500, "Internal error (details are logged, never returned)";
    /// 503: the node cannot do it now (no call engine, a call limit).
    Unavailable = 503, "This node cannot do it now (no call engine here, or a call limit is reached)";
}

/// The response named `name`: 429 carries `Retry-After`.
fn build(name: &str, description: &str) -> Response {
    let r = error_response(description);
    if name == "TooManyRequests" {
        let secs = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1));
        return r
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(Some(secs))
                    .description(Some("Seconds to wait before retrying"))
                    .build(),
            )
            .build();
    }
    r.build()
}
