//! The service layer: every change an admin makes, written once and used by
//! both the JSON API (`parla-admin-web`'s `api/routes/*`: extract → service
//! → JSON) and the web panel (its `panel/*`: form → service → page).
//!
//! Each change runs as one database transaction ([`Store::transaction`],
//! `BEGIN IMMEDIATE` on SQLite): load in the caller's tenant scope → check
//! the caller's role → validate → encrypt secrets → write → append the
//! audit entry. Either all of it is stored or none: a failed audit insert
//! rolls the change back and the caller gets an error (500 to clients).
//!
//! Validation failures are [`ServiceError::Invalid`] with one
//! [`FieldError`] per refused field, named as in the API's JSON bodies
//! (`name`, `endpointing_ms`, `engine_options.max_call_secs`,
//! `credentials.llm.api_key`, …); the API answers 422 with them, the panel
//! shows them next to its fields.
//!
//! This module depends on the store, the domain and the auth primitives
//! only, never on HTTP (`parla-admin-web`).

use crate::auth::{Principal, SecretKey};
use crate::domain::{TenantId, UserId};
use crate::store::{NewAuditEntry, Store, Tx};

pub mod agents;
pub mod api_keys;
pub mod calls;
mod error;
pub mod login;
pub mod numbers;
pub mod tenants;
pub mod trunks;
pub mod users;

pub use error::{FieldError, FieldErrors, ServiceError, ServiceResult};

/// Who makes a change, as recorded in the audit log.
#[derive(Clone, Debug)]
pub struct Actor {
    /// What the caller may do.
    pub principal: Principal,
    /// The acting user, if any (API keys have none).
    pub user_id: Option<UserId>,
    /// Human-readable actor (e-mail, `api-key:<prefix>`, masquerade note).
    pub label: String,
    /// Client IP address as text, if known.
    pub ip: Option<String>,
}

/// What a service call needs: the store, the key that seals secrets, and
/// the actor.
#[derive(Clone, Copy, Debug)]
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub secrets: &'a SecretKey,
    pub actor: &'a Actor,
}

impl Ctx<'_> {
    /// `Forbidden` unless `allowed`.
    pub(crate) fn require(&self, allowed: bool) -> ServiceResult<()> {
        if allowed {
            Ok(())
        } else {
            Err(ServiceError::Forbidden)
        }
    }

    /// Appends the audit entry of `change` inside `tx`, then commits: the
    /// change and its entry are stored together or not at all.
    pub(crate) async fn commit(&self, tx: Tx, change: Change<'_>) -> ServiceResult<()> {
        self.audit(&tx, change).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Appends the audit entry of a change inside its transaction.
    pub(crate) async fn audit(&self, tx: &Tx, change: Change<'_>) -> ServiceResult<()> {
        tx.audit()
            .record(NewAuditEntry {
                actor_user_id: self.actor.user_id,
                actor_label: self.actor.label.clone(),
                tenant_id: change.tenant,
                action: change.action.to_owned(),
                target: change.target,
                before: change.before,
                after: change.after,
                ip: self.actor.ip.clone(),
                at: tx.now(),
            })
            .await?;
        Ok(())
    }
}

/// What a change records in the audit log.
pub(crate) struct Change<'a> {
    pub action: &'a str,
    pub tenant: Option<TenantId>,
    pub target: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl<'a> Change<'a> {
    /// A change of `target` with its states before and after (`None` for
    /// a creation's before and a deletion's after).
    pub(crate) fn new(
        action: &'a str,
        tenant: Option<TenantId>,
        target: impl ToString,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Self {
        Change {
            action,
            tenant,
            target: target.to_string(),
            before,
            after,
        }
    }
}

/// `value` as audit JSON (`None` if it cannot be serialized).
pub(crate) fn json<T: serde::Serialize>(value: &T) -> Option<serde_json::Value> {
    serde_json::to_value(value).ok()
}
