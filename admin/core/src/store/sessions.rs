//! Login sessions. The auth layer creates the cookie token and stores its
//! SHA-256 hash here as the id; this module only stores and fetches.

use super::query;
use super::{Conn, StoreError, StoreResult};
use crate::domain::{Opaque, TenantId, Timestamp, UserId};

/// A session row. Not `Serialize`: it carries the CSRF token.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Session {
    /// Hash of the cookie token (text primary key).
    pub id: String,
    /// The logged-in user (the impersonated one while masquerading).
    pub user_id: UserId,
    /// The tenant currently selected, if any.
    pub tenant_id: Option<TenantId>,
    /// The super admin who is masquerading as `user_id`, if any.
    pub masquerading_from: Option<UserId>,
    /// Token to echo in state-changing requests.
    pub csrf_token: Opaque,
    /// Login time.
    pub created_at: Timestamp,
    /// The session is invalid from this time on.
    pub expires_at: Timestamp,
    /// Last request seen.
    pub last_seen_at: Timestamp,
}

impl Session {
    /// `true` once `now` reaches `expires_at`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }
}

/// Input of [`Sessions::create`]; `created_at` and `last_seen_at` are set
/// to `now`.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// Hash of the cookie token.
    pub id: String,
    /// The logged-in user.
    pub user_id: UserId,
    /// Initially selected tenant.
    pub tenant_id: Option<TenantId>,
    /// Set when a super admin starts masquerading.
    pub masquerading_from: Option<UserId>,
    /// CSRF token.
    pub csrf_token: Opaque,
    /// Creation time.
    pub now: Timestamp,
    /// Expiry time.
    pub expires_at: Timestamp,
}

/// Session repository. Obtain with [`Store::sessions`](super::Store::sessions).
#[derive(Clone, Copy, Debug)]
pub struct Sessions<'s> {
    db: Conn<'s>,
}

impl<'s> Sessions<'s> {
    pub(crate) fn new(db: Conn<'s>) -> Self {
        Self { db }
    }

    /// Stores a session. `Conflict { field: "session.id" }` if the id
    /// exists; `NotFound` if a referenced user or tenant does not.
    pub async fn create(&self, new: NewSession) -> StoreResult<Session> {
        const SQL: &str = "INSERT INTO sessions (id, user_id, tenant_id, masquerading_from, \
                           csrf_token, created_at, expires_at, last_seen_at) \
                           VALUES ($1, $2, $3, $4, $5, $6, $7, $6) RETURNING *";
        if new.id.is_empty() {
            return Err(StoreError::InvalidInput("session id is empty"));
        }
        let binds = (
            &new.id,
            new.user_id,
            new.tenant_id,
            new.masquerading_from,
            &new.csrf_token,
            new.now,
            new.expires_at,
        );
        query::fetch_one(self.db, SQL, binds).await
    }

    /// The session with this id, expired or not (check
    /// [`Session::is_expired`]).
    pub async fn get(&self, id: &str) -> StoreResult<Option<Session>> {
        const SQL: &str = "SELECT * FROM sessions WHERE id = $1";
        query::fetch_optional(self.db, SQL, (id,)).await
    }

    /// Records activity at `now` and moves the expiry to `expires_at`
    /// (sliding expiration). `NotFound` if no such session.
    pub async fn touch(&self, id: &str, now: Timestamp, expires_at: Timestamp) -> StoreResult<()> {
        const SQL: &str = "UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id = $1";
        query::execute_found(self.db, SQL, (id, now, expires_at)).await
    }

    /// Selects the tenant the session works in (`None` to clear).
    /// `NotFound` if no such session or tenant.
    pub async fn switch_tenant(&self, id: &str, tenant: Option<TenantId>) -> StoreResult<Session> {
        const SQL: &str = "UPDATE sessions SET tenant_id = $2 WHERE id = $1 RETURNING *";
        query::fetch_one(self.db, SQL, (id, tenant)).await
    }

    /// Ends one session (logout). Returns whether it existed.
    pub async fn delete(&self, id: &str) -> StoreResult<bool> {
        const SQL: &str = "DELETE FROM sessions WHERE id = $1";
        Ok(query::execute(self.db, SQL, (id,)).await? > 0)
    }

    /// Ends every session of `user`, including masquerade sessions started
    /// by them (password change, disable). Returns how many were removed.
    pub async fn delete_for_user(&self, user: UserId) -> StoreResult<u64> {
        const SQL: &str = "DELETE FROM sessions WHERE user_id = $1 OR masquerading_from = $1";
        query::execute(self.db, SQL, (user,)).await
    }

    /// Like [`Sessions::delete_for_user`] but keeps the session `keep`
    /// (password change: the other sessions end, the caller's stays).
    pub async fn delete_for_user_except(&self, user: UserId, keep: &str) -> StoreResult<u64> {
        const SQL: &str =
            "DELETE FROM sessions WHERE (user_id = $1 OR masquerading_from = $1) AND id <> $2";
        query::execute(self.db, SQL, (user, keep)).await
    }

    /// Removes sessions expired at `now`. Returns how many.
    pub async fn delete_expired(&self, now: Timestamp) -> StoreResult<u64> {
        const SQL: &str = "DELETE FROM sessions WHERE expires_at <= $1";
        query::execute(self.db, SQL, (now,)).await
    }
}
