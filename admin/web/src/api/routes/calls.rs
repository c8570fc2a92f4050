//! Call records and the audit log of a tenant, and outbound calls:
//! `POST /tenants/{tid}/calls` places one, `DELETE
//! /tenants/{tid}/calls/{id}` cancels it before the answer (see
//! [`parla_admin_core::service::calls`]).

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::auth::Caller;
use crate::api::error::{parse_id, ApiError};
use crate::api::json_body::JsonBody;
use crate::api::openapi::{Conflict, Forbidden, ItemPath, TenantPath, Unavailable};
use parla_admin_core::dialer::DialError;
use parla_admin_core::domain::{AgentId, CallId, CallStatus, Direction, NumberId};
use parla_admin_core::service::calls::{self as service, OriginateError, OriginateInput};
use parla_admin_core::store::{AuditEntry, AuditFilter, CallFilter, CallRecord, Paged};

use super::tenants::field;
use super::{created, tenant_scope, PageQuery, State};

/// The module's operations, merged into the document by
/// [`crate::api::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, get, audit, originate, cancel))]
pub(super) struct Doc;

/// The body of `POST /tenants/{tid}/calls`.
#[derive(Deserialize, ToSchema)]
#[schema(as = OriginateRequest)]
pub(super) struct Originate {
    /// The number to call, E.164 (`+15551234567`).
    to: String,
    /// One of the tenant's numbers: the caller id (its trunk places the call).
    #[schema(value_type = NumberId)]
    from_number_id: String,
    /// One of the tenant's agents: talks once the callee answers.
    #[schema(value_type = AgentId)]
    agent_id: String,
    /// Values of the agent's `{{name}}` placeholders (greeting, prompt):
    /// at most 32, names `[a-z0-9_]{1,32}`, values up to 256 characters.
    #[serde(default)]
    variables: BTreeMap<String, String>,
    /// Seconds to let it ring (5 to 120, default 30); then `no_answer`.
    ring_timeout_secs: Option<i64>,
}

/// The API error of a failed originate or cancel.
fn originate_error(e: OriginateError) -> ApiError {
    match e {
        OriginateError::Service(parla_admin_core::service::ServiceError::Conflict {
            field: "call.status",
        }) => ApiError::state_conflict("the call is answered or over: it cannot be canceled"),
        OriginateError::Service(e) => e.into(),
        OriginateError::NoDialer => ApiError::unavailable("calls cannot be placed on this node"),
        OriginateError::Dial(DialError::LimitReached { limit }) => ApiError::unavailable(format!(
            "the tenant's concurrent-call limit ({limit}) is reached"
        )),
        OriginateError::Dial(e) => ApiError::unavailable(e.to_string()),
    }
}

/// `POST /tenants/{tid}/calls`: places an outbound call from one of the
/// tenant's numbers, through its trunk, with one of its agents. Answers
/// with the call record (direction `outbound`, status `queued`); the
/// status then moves `dialing → ringing → in_progress → completed`, or
/// ends `busy`, `no_answer`, `failed` or `canceled`, with the SIP status
/// and cause on the record.
#[utoipa::path(
    post,
    path = "/tenants/{tid}/calls",
    tag = "calls",
    params(TenantPath),
    request_body = Originate,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The call record (status queued)", body = CallRecord),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn originate(
    state: State,
    req: HttpRequest,
    who: Caller,
    path: web::Path<String>,
    body: JsonBody<Originate>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    let ctx = service_ctx!(state, req, who);
    let Originate {
        to,
        from_number_id,
        agent_id,
        variables,
        ring_timeout_secs,
    } = body.0;
    let input = OriginateInput {
        to,
        from_number_id,
        agent_id,
        variables,
        ring_timeout_secs,
    };
    let call = service::originate(ctx, state.dialer.as_deref(), &scope, input)
        .await
        .map_err(originate_error)?;
    Ok(created(call))
}

/// `DELETE /tenants/{tid}/calls/{id}`: cancels an outbound call that is
/// not answered yet (queued, dialing or ringing): CANCEL is sent and the
/// record ends `canceled` a moment later. Answers with the record as it
/// is now; 409 once answered or over.
#[utoipa::path(
    delete,
    path = "/tenants/{tid}/calls/{id}",
    tag = "calls",
    params(ItemPath),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Canceling; the record as it is now", body = CallRecord),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn cancel(
    state: State,
    req: HttpRequest,
    who: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path.0).await?;
    let id: CallId = parse_id(&path.1)?;
    let ctx = service_ctx!(state, req, who);
    let call = service::cancel(ctx, state.dialer.as_deref(), &scope, id)
        .await
        .map_err(originate_error)?;
    Ok(HttpResponse::Accepted().json(call))
}

/// Filters of the call list (besides `page` and `per_page`); read as text
/// so bad values get a 422 naming the parameter.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct CallQuery {
    /// Only calls with this status.
    #[param(value_type = Option<CallStatus>)]
    status: Option<String>,
    /// Only calls in this direction.
    #[param(value_type = Option<Direction>)]
    direction: Option<String>,
}

/// `GET /tenants/{tid}/calls`: a page of call records, newest first.
#[utoipa::path(
    get,
    path = "/tenants/{tid}/calls",
    tag = "calls",
    params(TenantPath, PageQuery, CallQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of call records", body = Paged<CallRecord>))
)]
pub(super) async fn list(
    state: State,
    who: Caller,
    path: web::Path<String>,
    p: web::Query<PageQuery>,
    q: web::Query<CallQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    let page = p.page()?;
    let mut err = ApiError::validation();
    let filter = CallFilter {
        status: field::<CallStatus>(&mut err, "status", q.status.as_deref()),
        direction: field::<Direction>(&mut err, "direction", q.direction.as_deref()),
        ..Default::default()
    };
    if err.has_fields() {
        return Err(err);
    }
    Ok(HttpResponse::Ok().json(state.store.calls().list(&scope, &filter, page).await?))
}

/// `GET /tenants/{tid}/calls/{id}`: one call record with its transcript
/// and latency breakdown.
#[utoipa::path(
    get,
    path = "/tenants/{tid}/calls/{id}",
    tag = "calls",
    params(ItemPath),
    security(("bearer" = [])),
    responses((status = 200, description = "The call record", body = CallRecord))
)]
pub(super) async fn get(
    state: State,
    who: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path.0).await?;
    let id: CallId = parse_id(&path.1)?;
    let c = state.store.calls().get(&scope, id).await?;
    Ok(HttpResponse::Ok().json(c.ok_or_else(ApiError::not_found)?))
}

/// `GET /tenants/{tid}/audit`: a page of the tenant's audit log, newest
/// first.
#[utoipa::path(
    get,
    path = "/tenants/{tid}/audit",
    tag = "calls",
    params(TenantPath, PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of audit entries", body = Paged<AuditEntry>))
)]
pub(super) async fn audit(
    state: State,
    who: Caller,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    let page = q.page()?;
    let p = state
        .store
        .audit()
        .list(&scope, &AuditFilter::default(), page)
        .await?;
    Ok(HttpResponse::Ok().json(p))
}
