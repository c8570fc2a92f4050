//! Live calls: the events of a call as server-sent events, commands into a
//! running call (hang up, say a line), and the list of live calls.
//!
//! A call is reached through its tenant's record: another tenant's call
//! (or an unknown id) is 404, like every tenant resource. Commands need
//! the right to manage the tenant's agents and numbers (tenant admins, the
//! super admin, keys of tenant admins) and are audited; watching a call
//! needs only access to the tenant.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};

use crate::api::auth::Caller;
use crate::api::error::{parse_id, ApiError};
use crate::api::json_body::JsonBody;
use crate::api::openapi::{Conflict, Forbidden, ItemPath, TenantPath, TooManyRequests};
use parla_admin_core::domain::{CallId, Timestamp};
use parla_admin_core::live::{
    LiveCallEvent, LiveCallSummary, LiveCommand, LiveError, MAX_SAY_CHARS,
};
use parla_admin_core::store::{CallRecord, TenantScope};

use super::{require, require_super_admin, tenant_scope, Change, State};

/// The module's operations, merged into the document by
/// [`crate::api::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(events, hangup, say, list_tenant, list_all),
    components(schemas(LiveCallEvent, LiveCallSseEvent, LiveCallSummary, SayInput))
)]
pub(super) struct Doc;

/// One server-sent event of the events stream, as a client's event-stream
/// parser delivers it (WHATWG HTML §9.2.6): `event` names the type and
/// `data` is the JSON of a `LiveCallEvent`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only: the stream is written by `frame`
pub(super) struct LiveCallSseEvent {
    /// `state`, `transcript`, `latency` or `ended` (the `type` of `data`).
    #[schema(pattern = "^(state|transcript|latency|ended)$")]
    event: String,
    /// A `LiveCallEvent`, as JSON.
    data: String,
}

/// A comment line sent this often keeps idle streams (and proxies) open.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// How long a stream waits for a ringing call to come up before it
/// replays the record instead.
const WAIT_FOR_ANSWER: Duration = Duration::from_secs(5);
/// Events queued for one slow client, at most.
const CLIENT_QUEUE: usize = 64;

/// The call `id` of the tenant, or 404.
async fn call_in_scope(
    state: &State,
    who: &Caller,
    path: &(String, String),
) -> Result<(TenantScope, CallRecord), ApiError> {
    let scope = tenant_scope(state, who, &path.0).await?;
    let id: CallId = parse_id(&path.1)?;
    let call = state.store.calls().get(&scope, id).await?;
    Ok((scope, call.ok_or_else(ApiError::not_found)?))
}

fn live_error(e: LiveError) -> ApiError {
    match e {
        LiveError::NotLive => ApiError::conflict("call.status"),
        LiveError::Busy => ApiError::rate_limited(1),
        LiveError::TooLong => {
            ApiError::invalid("text", format!("at most {MAX_SAY_CHARS} characters"))
        }
    }
}

/// `GET /tenants/{tid}/calls/{id}/events`: the call's events as
/// `text/event-stream`.
///
/// A live call streams its current state and transcript so far, then each
/// event as it happens, and `ended` last. A call that is over replays its
/// record (transcript, latency, `ended`). Each event is `event: <type>`
/// with the JSON of a [`LiveCallEvent`] as `data`; comment lines keep the
/// stream open.
#[utoipa::path(
    get,
    path = "/tenants/{tid}/calls/{id}/events",
    tag = "calls",
    params(ItemPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Server-sent events, one LiveCallEvent each", content_type = "text/event-stream", body = LiveCallSseEvent),
        (status = 429, response = TooManyRequests),
    )
)]
pub(super) async fn events(
    state: State,
    who: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (scope, mut call) = call_in_scope(&state, &who, &path).await?;
    let subscription = loop {
        let Some(live) = state.live_calls.as_ref() else {
            break None;
        };
        match live.subscribe(scope.tenant(), call.id) {
            Ok(s) => break Some(s),
            Err(LiveError::NotLive) => {}
            Err(e) => return Err(live_error(e)),
        }
        // Ringing (or just answered): the engine registers it in a moment.
        let waited = Timestamp::now().millis_since(call.attempted_at);
        if !call.status.is_live() || waited > WAIT_FOR_ANSWER.as_millis() as i64 {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        call = match state.store.calls().get(&scope, call.id).await? {
            Some(c) => c,
            None => return Err(ApiError::not_found()),
        };
    };
    let (tx, rx) = mpsc::channel::<Bytes>(CLIENT_QUEUE);
    match subscription {
        Some(sub) => {
            actix_web::rt::spawn(pump(sub.backlog, sub.events, tx));
        }
        None => {
            let mut replay: Vec<LiveCallEvent> = call
                .transcript
                .0
                .iter()
                .map(|turn| LiveCallEvent::Transcript { turn: turn.clone() })
                .collect();
            replay.extend(call.latency.0.iter().map(|latency| LiveCallEvent::Latency {
                latency: latency.clone(),
            }));
            replay.push(LiveCallEvent::Ended {
                hangup_cause: call.hangup_cause.clone(),
            });
            actix_web::rt::spawn(async move {
                for event in &replay {
                    if tx.send(frame(event)).await.is_err() {
                        return;
                    }
                }
            });
        }
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .body(EventStream { rx }))
}

/// One server-sent event.
fn frame(event: &LiveCallEvent) -> Bytes {
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".to_owned());
    Bytes::from(format!("event: {}\ndata: {data}\n\n", event.name()))
}

/// Feeds the backlog, then every event, to the client until the call ends
/// or the client goes away.
async fn pump(
    backlog: Vec<LiveCallEvent>,
    mut events: broadcast::Receiver<LiveCallEvent>,
    tx: mpsc::Sender<Bytes>,
) {
    for event in &backlog {
        if tx.send(frame(event)).await.is_err() {
            return;
        }
    }
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    keepalive.tick().await;
    loop {
        let bytes = tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    let last = matches!(event, LiveCallEvent::Ended { .. });
                    let sent = tx.send(frame(&event)).await.is_ok();
                    if last || !sent {
                        return;
                    }
                    continue;
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    Bytes::from(format!(": skipped {n} events\n\n"))
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = keepalive.tick() => Bytes::from_static(b": keepalive\n\n"),
            () = tx.closed() => return,
        };
        if tx.send(bytes).await.is_err() {
            return;
        }
    }
}

/// The response body of an event stream.
struct EventStream {
    rx: mpsc::Receiver<Bytes>,
}

impl MessageBody for EventStream {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        self.get_mut().rx.poll_recv(cx).map(|b| b.map(Ok))
    }
}

/// Sends `command` to the call of `path`, audited as `action`.
async fn command(
    state: &State,
    req: &HttpRequest,
    who: &Caller,
    path: &(String, String),
    action: &str,
    command: LiveCommand,
) -> Result<HttpResponse, ApiError> {
    let (scope, call) = call_in_scope(state, who, path).await?;
    require(who.principal.can_manage_agents_and_numbers())?;
    let live = state
        .live_calls
        .as_ref()
        .ok_or_else(|| live_error(LiveError::NotLive))?;
    let detail = match &command {
        LiveCommand::HangUp => None,
        LiveCommand::Say {
            text,
            hang_up_after,
        } => Some(serde_json::json!({ "text": text, "hang_up_after": hang_up_after })),
    };
    live.command(scope.tenant(), call.id, command)
        .map_err(live_error)?;
    Change::created(action, Some(scope.tenant()), call.id, detail)
        .record(state, req, who)
        .await?;
    Ok(HttpResponse::Accepted().finish())
}

/// `POST /tenants/{tid}/calls/{id}/hangup`: hang up the live call now.
#[utoipa::path(
    post,
    path = "/tenants/{tid}/calls/{id}/hangup",
    tag = "calls",
    params(ItemPath),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The call is being hung up"),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    )
)]
pub(super) async fn hangup(
    state: State,
    req: HttpRequest,
    who: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    command(
        &state,
        &req,
        &who,
        &path,
        "call.hangup",
        LiveCommand::HangUp,
    )
    .await
}

/// What the agent says (`POST …/say`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SayInput {
    /// The line, 1 to 1000 characters.
    text: String,
    /// `hangup`: hang up once the line has played; `continue` (default):
    /// the conversation goes on.
    #[schema(value_type = Option<String>, example = "continue")]
    then: Option<String>,
}

/// `POST /tenants/{tid}/calls/{id}/say`: the agent says a line now (or,
/// if the caller is speaking, once they finish), then hangs up or goes on.
#[utoipa::path(
    post,
    path = "/tenants/{tid}/calls/{id}/say",
    tag = "calls",
    params(ItemPath),
    request_body = SayInput,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The line is queued"),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    )
)]
pub(super) async fn say(
    state: State,
    req: HttpRequest,
    who: Caller,
    path: web::Path<(String, String)>,
    body: JsonBody<SayInput>,
) -> Result<HttpResponse, ApiError> {
    let mut err = ApiError::validation();
    let text = body.text.trim();
    let chars = text.chars().count();
    if chars == 0 || chars > MAX_SAY_CHARS {
        err = err.with_field("text", format!("must be 1 to {MAX_SAY_CHARS} characters"));
    } else if text.chars().any(|c| c.is_control() && c != '\n') {
        err = err.with_field("text", "must not contain control characters");
    }
    let hang_up_after = match body.then.as_deref() {
        None | Some("continue") => false,
        Some("hangup") => true,
        Some(_) => {
            err = err.with_field("then", "must be `hangup` or `continue`");
            false
        }
    };
    if err.has_fields() {
        return Err(err);
    }
    let action = if hang_up_after {
        "call.say_hangup"
    } else {
        "call.say"
    };
    let cmd = LiveCommand::Say {
        text: text.to_owned(),
        hang_up_after,
    };
    command(&state, &req, &who, &path, action, cmd).await
}

/// `GET /tenants/{tid}/live-calls`: the tenant's calls that are up now.
#[utoipa::path(
    get,
    path = "/tenants/{tid}/live-calls",
    tag = "calls",
    params(TenantPath),
    security(("bearer" = [])),
    responses((status = 200, description = "The live calls, oldest first", body = Vec<LiveCallSummary>))
)]
pub(super) async fn list_tenant(
    state: State,
    who: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    let calls = state
        .live_calls
        .as_ref()
        .map(|l| l.list(Some(scope.tenant())))
        .unwrap_or_default();
    Ok(HttpResponse::Ok().json(calls))
}

/// `GET /live-calls`: every tenant's calls that are up now (super admin).
#[utoipa::path(
    get,
    path = "/live-calls",
    tag = "calls",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The live calls, oldest first", body = Vec<LiveCallSummary>),
        (status = 403, response = Forbidden),
    )
)]
pub(super) async fn list_all(state: State, who: Caller) -> Result<HttpResponse, ApiError> {
    require_super_admin(&who)?;
    let calls = state
        .live_calls
        .as_ref()
        .map(|l| l.list(None))
        .unwrap_or_default();
    Ok(HttpResponse::Ok().json(calls))
}
