//! Audit log: who did what, where, with before/after snapshots. Every
//! mutation and every login attempt is recorded through [`Audit::record`].
//! Append-only: rows have no foreign keys so they outlive deleted tenants
//! and users.

use super::query;
use super::{Conn, Page, Paged, StoreResult, TenantScope};
use crate::domain::{AuditId, JsonText, TenantId, Timestamp, UserId};

/// An audit log row.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Identifier (time-ordered).
    pub id: AuditId,
    /// The acting user; `None` for e.g. a failed login of an unknown e-mail.
    pub actor_user_id: Option<UserId>,
    /// Human-readable actor (e-mail, e-mail tried, `api-key:<prefix>`, `engine`).
    pub actor_label: String,
    /// The tenant acted in; `None` for global actions.
    pub tenant_id: Option<TenantId>,
    /// Dotted action name, e.g. `agent.create`, `login.failed`.
    pub action: String,
    /// What was acted on, e.g. an id or `agent:<id>`.
    pub target: String,
    /// State before the change (JSON), if relevant.
    #[sqlx(rename = "before_state")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub before: Option<JsonText<serde_json::Value>>,
    /// State after the change (JSON), if relevant.
    #[sqlx(rename = "after_state")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub after: Option<JsonText<serde_json::Value>>,
    /// Client IP address as text, if known.
    pub ip: Option<String>,
    /// When it happened.
    pub at: Timestamp,
}

/// Input of [`Audit::record`].
#[derive(Clone, Debug)]
pub struct NewAuditEntry {
    /// The acting user, if known.
    pub actor_user_id: Option<UserId>,
    /// Human-readable actor.
    pub actor_label: String,
    /// The tenant acted in.
    pub tenant_id: Option<TenantId>,
    /// Dotted action name.
    pub action: String,
    /// What was acted on.
    pub target: String,
    /// State before.
    pub before: Option<serde_json::Value>,
    /// State after.
    pub after: Option<serde_json::Value>,
    /// Client IP.
    pub ip: Option<String>,
    /// When it happened.
    pub at: Timestamp,
}

/// Filters of the audit listings; `None` fields do not filter.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Exactly this action (e.g. `login.failed`).
    pub action: Option<String>,
    /// Actions starting with this text (e.g. `agent.`).
    pub action_prefix: Option<String>,
    /// Only this actor.
    pub actor_user_id: Option<UserId>,
}

/// Audit repository. Obtain with [`Store::audit`](super::Store::audit).
#[derive(Clone, Copy, Debug)]
pub struct Audit<'s> {
    db: Conn<'s>,
}

// `substr(action, 1, length($n)) = $n` is a prefix test that, unlike LIKE,
// treats `%` and `_` literally and behaves the same on both backends.
macro_rules! audit_query {
    ($select:literal, $tail:literal) => {
        concat!(
            $select,
            " FROM audit_log WHERE ($1 IS NULL OR tenant_id = $1) \
             AND ($2 IS NULL OR action = $2) \
             AND ($3 IS NULL OR substr(action, 1, length($3)) = $3) \
             AND ($4 IS NULL OR actor_user_id = $4)",
            $tail
        )
    };
}

impl<'s> Audit<'s> {
    pub(crate) fn new(db: Conn<'s>) -> Self {
        Self { db }
    }

    /// Appends an entry (global: also used for failed logins outside any
    /// tenant).
    pub async fn record(&self, entry: NewAuditEntry) -> StoreResult<AuditEntry> {
        const SQL: &str = "INSERT INTO audit_log (id, actor_user_id, actor_label, tenant_id, \
                           action, target, before_state, after_state, ip, at) \
                           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *";
        let before = entry.before.map(JsonText);
        let after = entry.after.map(JsonText);
        let binds = (
            AuditId::generate(),
            entry.actor_user_id,
            &entry.actor_label,
            entry.tenant_id,
            &entry.action,
            &entry.target,
            before.as_ref(),
            after.as_ref(),
            entry.ip.as_deref(),
            entry.at,
        );
        query::fetch_one(self.db, SQL, binds).await
    }

    /// The scope's entries matching `filter`, newest first.
    pub async fn list(
        &self,
        scope: &TenantScope,
        filter: &AuditFilter,
        page: Page,
    ) -> StoreResult<Paged<AuditEntry>> {
        self.query(Some(scope.tenant()), filter, page).await
    }

    /// Every entry matching `filter` across tenants (global entries
    /// included), newest first. For super admins only: the caller must have
    /// checked the role.
    pub async fn list_all(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> StoreResult<Paged<AuditEntry>> {
        self.query(None, filter, page).await
    }

    /// `tenant = None` lists every tenant; only `list_all` passes it.
    async fn query(
        &self,
        tenant: Option<TenantId>,
        filter: &AuditFilter,
        page: Page,
    ) -> StoreResult<Paged<AuditEntry>> {
        const COUNT: &str = audit_query!("SELECT COUNT(*)", "");
        const SQL: &str = audit_query!("SELECT *", " ORDER BY at DESC, id DESC LIMIT $5 OFFSET $6");
        let binds = (
            tenant,
            filter.action.as_deref(),
            filter.action_prefix.as_deref(),
            filter.actor_user_id,
        );
        query::paged(self.db, COUNT, SQL, binds, page).await
    }
}
