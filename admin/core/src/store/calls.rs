//! Call records: one row per call, inserted when the call starts (so live
//! calls are visible) and completed when it ends.

use super::query;
use super::{Conn, Page, Paged, StoreError, StoreResult, TenantScope};
use crate::domain::{
    AgentId, CallId, CallStatus, Direction, JsonText, SipStatus, TenantId, Timestamp,
    TranscriptTurn, TurnLatency,
};

/// A call record row.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CallRecord {
    /// Identifier.
    pub id: CallId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The agent that handled it; `None` if none or since deleted.
    pub agent_id: Option<AgentId>,
    /// Inbound or outbound.
    pub direction: Direction,
    /// SIP From URI.
    pub from_uri: String,
    /// SIP To URI.
    pub to_uri: String,
    /// SIP Call-ID header.
    pub sip_call_id: String,
    /// When the INVITE was sent or received.
    pub attempted_at: Timestamp,
    /// When the call was answered (200 OK), if it was.
    pub answered_at: Option<Timestamp>,
    /// When it ended; `None` while live.
    pub ended_at: Option<Timestamp>,
    /// Current status (`ringing`/`in_progress` while live).
    pub status: CallStatus,
    /// Why it ended (engine-defined text, e.g. `caller_hangup`).
    pub hangup_cause: Option<String>,
    /// Final SIP response status, if any.
    pub sip_status: Option<SipStatus>,
    /// Talk time in milliseconds (`ended_at - answered_at`); `None` if
    /// never answered or still live.
    pub duration_ms: Option<i64>,
    /// The conversation, in order (JSON array; empty while live).
    #[schema(value_type = Vec<TranscriptTurn>)]
    pub transcript: JsonText<Vec<TranscriptTurn>>,
    /// Per-turn latency breakdown (JSON array; empty while live).
    #[schema(value_type = Vec<TurnLatency>)]
    pub latency: JsonText<Vec<TurnLatency>>,
    /// The recording's file, relative to the recordings directory
    /// (`<tenant id>/<call record id>.wav`), if recorded. Never exposed:
    /// the API shows only whether there is one (`has_recording`) and the
    /// panel serves the file.
    #[serde(rename = "has_recording", serialize_with = "is_some")]
    #[schema(value_type = bool)]
    pub recording_path: Option<String>,
}

/// Serializes an option as whether it is set.
fn is_some<S: serde::Serializer, T>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(v.is_some())
}

/// Input of [`Calls::start`].
#[derive(Clone, Debug)]
pub struct NewCall {
    /// The agent handling it (must belong to the scope's tenant).
    pub agent_id: Option<AgentId>,
    /// Inbound or outbound.
    pub direction: Direction,
    /// SIP From URI.
    pub from_uri: String,
    /// SIP To URI.
    pub to_uri: String,
    /// SIP Call-ID.
    pub sip_call_id: String,
    /// When the INVITE was sent or received.
    pub attempted_at: Timestamp,
    /// Set if already answered (then `status` should be `InProgress`).
    pub answered_at: Option<Timestamp>,
    /// A live status (`Queued` for an outbound call the API accepted,
    /// `Ringing` or `InProgress`); other values are `InvalidInput`.
    pub status: CallStatus,
}

/// Input of [`Calls::finish`].
#[derive(Clone, Debug)]
pub struct CallEnd {
    /// When the call ended.
    pub ended_at: Timestamp,
    /// Final status (`Completed`, `Failed`, `NoAnswer`, `Busy`,
    /// `Canceled`); a live status is `InvalidInput`.
    pub status: CallStatus,
    /// Why it ended.
    pub hangup_cause: Option<String>,
    /// Final SIP response status.
    pub sip_status: Option<SipStatus>,
    /// The conversation.
    pub transcript: Vec<TranscriptTurn>,
    /// Per-turn latency.
    pub latency: Vec<TurnLatency>,
    /// Recording file path.
    pub recording_path: Option<String>,
}

/// Filters of [`Calls::list`]; `None` fields do not filter.
#[derive(Clone, Debug, Default)]
pub struct CallFilter {
    /// Only this status.
    pub status: Option<CallStatus>,
    /// Only this direction.
    pub direction: Option<Direction>,
    /// Only calls handled by this agent.
    pub agent_id: Option<AgentId>,
    /// Attempted at or after this time (inclusive).
    pub from: Option<Timestamp>,
    /// Attempted before this time (exclusive).
    pub until: Option<Timestamp>,
}

/// Call record repository. Obtain with [`Store::calls`](super::Store::calls).
#[derive(Clone, Copy, Debug)]
pub struct Calls<'s> {
    db: Conn<'s>,
}

impl<'s> Calls<'s> {
    pub(crate) fn new(db: Conn<'s>) -> Self {
        Self { db }
    }

    /// Records a call that is ringing or already in progress. `NotFound` if
    /// `agent_id` is not an agent of the scope's tenant.
    pub async fn start(&self, scope: &TenantScope, new: NewCall) -> StoreResult<CallRecord> {
        self.start_with_id(scope, CallId::generate(), new).await
    }

    /// [`Calls::start`] with an id chosen by the caller (the engine names
    /// the call's recording after it before the row exists).
    /// A taken id is an error (ids are random UUIDs, so it never happens).
    pub async fn start_with_id(
        &self,
        scope: &TenantScope,
        id: CallId,
        new: NewCall,
    ) -> StoreResult<CallRecord> {
        const SQL: &str = "INSERT INTO call_records (id, tenant_id, agent_id, direction, \
                           from_uri, to_uri, sip_call_id, attempted_at, answered_at, status, \
                           transcript, latency) \
                           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '[]', '[]') \
                           RETURNING *";
        if !new.status.is_live() {
            return Err(StoreError::InvalidInput(
                "a call starts as queued, dialing, ringing or in_progress",
            ));
        }
        let binds = (
            id,
            scope.tenant(),
            new.agent_id,
            new.direction,
            &new.from_uri,
            &new.to_uri,
            &new.sip_call_id,
            new.attempted_at,
            new.answered_at,
            new.status,
        );
        query::fetch_one(self.db, SQL, binds).await
    }

    /// Marks a call not yet answered (queued, dialing or ringing) as
    /// answered at `at` (status `in_progress`). `NotFound` if not in the
    /// scope, `Conflict { field: "call.status" }` if it is answered or
    /// ended.
    pub async fn answer(
        &self,
        scope: &TenantScope,
        id: CallId,
        at: Timestamp,
    ) -> StoreResult<CallRecord> {
        const SQL: &str = "UPDATE call_records SET status = 'in_progress', answered_at = $3 \
                           WHERE id = $1 AND tenant_id = $2 \
                           AND status IN ('queued', 'dialing', 'ringing') RETURNING *";
        let call = query::fetch_optional(self.db, SQL, (id, scope.tenant(), at)).await?;
        self.or_state_conflict(scope, id, call).await
    }

    /// An outbound call's INVITE went out: status `dialing` (from
    /// `queued`), with the Call-ID it got. `NotFound` if not in the scope,
    /// `Conflict { field: "call.status" }` if it is no longer queued.
    pub async fn dialing(
        &self,
        scope: &TenantScope,
        id: CallId,
        sip_call_id: &str,
    ) -> StoreResult<CallRecord> {
        const SQL: &str = "UPDATE call_records SET status = 'dialing', sip_call_id = $3 \
                           WHERE id = $1 AND tenant_id = $2 AND status = 'queued' RETURNING *";
        let call = query::fetch_optional(self.db, SQL, (id, scope.tenant(), sip_call_id)).await?;
        self.or_state_conflict(scope, id, call).await
    }

    /// An outbound call's far end is alerting (18x): status `ringing`
    /// (from `queued` or `dialing`). `NotFound` if not in the scope,
    /// `Conflict { field: "call.status" }` if it is ringing already,
    /// answered or ended.
    pub async fn ringing(&self, scope: &TenantScope, id: CallId) -> StoreResult<CallRecord> {
        const SQL: &str = "UPDATE call_records SET status = 'ringing' \
                           WHERE id = $1 AND tenant_id = $2 \
                           AND status IN ('queued', 'dialing') RETURNING *";
        let call = query::fetch_optional(self.db, SQL, (id, scope.tenant())).await?;
        self.or_state_conflict(scope, id, call).await
    }

    /// Completes a live call: final status, cause, SIP status, transcript,
    /// latency, recording; `duration_ms` is computed from `answered_at`.
    /// `NotFound` if not in the scope, `Conflict { field: "call.status" }`
    /// if it already ended, `InvalidInput` if `end.status` is live.
    pub async fn finish(
        &self,
        scope: &TenantScope,
        id: CallId,
        end: CallEnd,
    ) -> StoreResult<CallRecord> {
        const SQL: &str = "UPDATE call_records SET ended_at = $3, status = $4, \
                           hangup_cause = $5, sip_status = $6, \
                           duration_ms = CASE WHEN answered_at IS NULL THEN NULL \
                                              ELSE $3 - answered_at END, \
                           transcript = $7, latency = $8, recording_path = $9 \
                           WHERE id = $1 AND tenant_id = $2 \
                           AND status IN ('queued', 'dialing', 'ringing', 'in_progress') RETURNING *";
        if end.status.is_live() {
            return Err(StoreError::InvalidInput(
                "a call finishes as completed, failed, no_answer, busy or canceled",
            ));
        }
        let transcript = JsonText(end.transcript);
        let latency = JsonText(end.latency);
        let binds = (
            id,
            scope.tenant(),
            end.ended_at,
            end.status,
            end.hangup_cause.as_deref(),
            end.sip_status,
            &transcript,
            &latency,
            end.recording_path.as_deref(),
        );
        let call = query::fetch_optional(self.db, SQL, binds).await?;
        self.or_state_conflict(scope, id, call).await
    }

    /// `call` if the conditional update hit; otherwise `Conflict` if the
    /// call exists in the scope (wrong state) or `NotFound`.
    async fn or_state_conflict(
        &self,
        scope: &TenantScope,
        id: CallId,
        call: Option<CallRecord>,
    ) -> StoreResult<CallRecord> {
        match call {
            Some(call) => Ok(call),
            None if self.get(scope, id).await?.is_some() => Err(StoreError::Conflict {
                field: "call.status",
            }),
            None => Err(StoreError::NotFound),
        }
    }

    /// Replaces the transcript and latency of a live call with those so far
    /// (the engine reports them while the call runs). Returns whether the
    /// call was live in the scope (an ended call is left as it is).
    pub async fn update_live(
        &self,
        scope: &TenantScope,
        id: CallId,
        transcript: Vec<TranscriptTurn>,
        latency: Vec<TurnLatency>,
    ) -> StoreResult<bool> {
        const SQL: &str = "UPDATE call_records SET transcript = $3, latency = $4 \
                           WHERE id = $1 AND tenant_id = $2 \
                           AND status IN ('queued', 'dialing', 'ringing', 'in_progress') RETURNING *";
        let transcript = JsonText(transcript);
        let latency = JsonText(latency);
        let binds = (id, scope.tenant(), &transcript, &latency);
        let call: Option<CallRecord> = query::fetch_optional(self.db, SQL, binds).await?;
        Ok(call.is_some())
    }

    /// The call with this id in the scope's tenant.
    pub async fn get(&self, scope: &TenantScope, id: CallId) -> StoreResult<Option<CallRecord>> {
        const SQL: &str = "SELECT * FROM call_records WHERE id = $1 AND tenant_id = $2";
        query::fetch_scoped(self.db, SQL, id, scope).await
    }

    /// The scope's calls matching `filter`, newest attempt first.
    pub async fn list(
        &self,
        scope: &TenantScope,
        filter: &CallFilter,
        page: Page,
    ) -> StoreResult<Paged<CallRecord>> {
        // Each filter is `($n IS NULL OR column op $n)`: one static SQL text,
        // unused filters bound as NULL.
        macro_rules! filtered {
            ($select:literal, $tail:literal) => {
                concat!(
                    $select,
                    " FROM call_records WHERE tenant_id = $1 \
                     AND ($2 IS NULL OR status = $2) \
                     AND ($3 IS NULL OR direction = $3) \
                     AND ($4 IS NULL OR agent_id = $4) \
                     AND ($5 IS NULL OR attempted_at >= $5) \
                     AND ($6 IS NULL OR attempted_at < $6)",
                    $tail
                )
            };
        }
        const COUNT: &str = filtered!("SELECT COUNT(*)", "");
        const SQL: &str = filtered!(
            "SELECT *",
            " ORDER BY attempted_at DESC, id DESC LIMIT $7 OFFSET $8"
        );
        let binds = (
            scope.tenant(),
            filter.status,
            filter.direction,
            filter.agent_id,
            filter.from,
            filter.until,
        );
        query::paged(self.db, COUNT, SQL, binds, page).await
    }

    /// How many of the scope's calls are live (ringing or in progress).
    pub async fn live_count(&self, scope: &TenantScope) -> StoreResult<u64> {
        const SQL: &str = "SELECT COUNT(*) FROM call_records \
                           WHERE tenant_id = $1 AND status IN ('queued', 'dialing', 'ringing', 'in_progress')";
        query::count(self.db, SQL, (scope.tenant(),)).await
    }

    /// How many calls are live across all tenants (super admin dashboard).
    pub async fn live_count_all(&self) -> StoreResult<u64> {
        const SQL: &str =
            "SELECT COUNT(*) FROM call_records WHERE status IN ('queued', 'dialing', 'ringing', 'in_progress')";
        query::count(self.db, SQL, ()).await
    }

    /// The hangup cause of the calls [`Calls::close_after_restart`] closes.
    pub const NODE_RESTART: &'static str = "node_restart";

    /// Closes the calls a stopped node left live (`ringing` or
    /// `in_progress` after a crash, `kill -9` or power loss, when nothing
    /// ran the call's end): status `failed`, hangup cause
    /// [`Calls::NODE_RESTART`] (`"node_restart"`), `ended_at = at`, and
    /// `duration_ms` from `answered_at` as in [`Calls::finish`]; transcript,
    /// latency and SIP status stay as stored. Global (every tenant).
    /// Returns how many calls it closed.
    ///
    /// Call it on start-up, before the node accepts calls: every live row
    /// is then a leftover. Today one node serves a database, so it closes
    /// every live call. When several nodes share a database, call records
    /// will name the node that runs them and this will take that node's id
    /// and close only its own calls (the others' are still running).
    pub async fn close_after_restart(&self, at: Timestamp) -> StoreResult<u64> {
        const SQL: &str = "UPDATE call_records SET ended_at = $1, status = 'failed', \
                           hangup_cause = $2, \
                           duration_ms = CASE WHEN answered_at IS NULL THEN NULL \
                                              ELSE $1 - answered_at END \
                           WHERE status IN ('queued', 'dialing', 'ringing', 'in_progress')";
        query::execute(self.db, SQL, (at, Self::NODE_RESTART)).await
    }
}
