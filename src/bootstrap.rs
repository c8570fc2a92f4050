//! The first operator: a super admin created on start when there is none
//! (from `PARLA_ADMIN_EMAIL` / `PARLA_ADMIN_PASSWORD`, else `admin@parla.localhost`
//! with a generated password printed once), and `parla admin
//! create-super-admin`.

use std::io::BufRead as _;

use anyhow::Context as _;
use parla_admin_core::auth::random;
use parla_admin_core::domain::{Email, Opaque, Timestamp, UserId};
use parla_admin_core::store::{NewAuditEntry, NewUser, Store};

use crate::admin_store::check_password;

/// E-mail of the bootstrapped super admin when `PARLA_ADMIN_EMAIL` is unset
/// (`admin@localhost` is not accepted by the login e-mail rules, which
/// require a dot in the domain; `.localhost` is reserved by RFC 6761).
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@parla.localhost";
/// Length of a generated password (base62: ~143 bits).
pub const GENERATED_PASSWORD_LEN: usize = 24;

/// Environment variables holding Parla's own secrets. [`EnvSecrets::take`]
/// reads them and removes them from the process environment at start-up,
/// so nothing that reads the environment later (an operator's
/// `api_key_env`, a library) can reach them. `PARLA_DATABASE_URL` (it may
/// hold a password) is read by the command line parser before that.
pub const SECRET_ENV: [&str; 3] = [
    "PARLA_ADMIN_PASSWORD",
    "PARLA_SECRET_KEY",
    "PARLA_DATABASE_URL",
];

/// Parla's own secrets and the first super admin's e-mail: taken from the
/// environment by `main` ([`EnvSecrets::take`]), or set by whoever embeds
/// [`crate::Application`] (the library reads no environment); held in
/// memory only.
#[derive(Default)]
pub struct EnvSecrets {
    /// `PARLA_ADMIN_EMAIL`: the first super admin's e-mail (default
    /// [`DEFAULT_ADMIN_EMAIL`]). Not a secret: it stays in the environment.
    pub admin_email: Option<String>,
    /// `PARLA_ADMIN_PASSWORD`: the first super admin's password.
    pub admin_password: Option<String>,
    /// `PARLA_SECRET_KEY`: base64 of the key encrypting provider credentials.
    pub secret_key: Option<String>,
}

impl std::fmt::Debug for EnvSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnvSecrets(<redacted>)")
    }
}

impl EnvSecrets {
    /// Reads the [`SECRET_ENV`] variables and `PARLA_ADMIN_EMAIL` (empty
    /// ones count as unset) and removes the [`SECRET_ENV`] ones from the
    /// process environment.
    ///
    /// Call it in `main` after parsing the command line and before any
    /// thread exists (no async runtime, Arbiter or other thread yet):
    /// changing the environment while another thread reads it (`getenv`) is
    /// undefined behaviour in C, which is why `std::env::remove_var` is
    /// `unsafe` in Rust 2024. This crate is edition 2021, where it is a safe
    /// function, but the same rule applies and is kept by the call site.
    pub fn take() -> EnvSecrets {
        let read = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let secrets = EnvSecrets {
            admin_email: read("PARLA_ADMIN_EMAIL"),
            admin_password: read("PARLA_ADMIN_PASSWORD"),
            secret_key: read("PARLA_SECRET_KEY"),
        };
        for var in SECRET_ENV {
            std::env::remove_var(var);
        }
        secrets
    }
}

/// Who did it, as written in the audit log.
#[derive(Debug, Clone, Copy)]
pub enum Actor {
    /// `parla serve` at startup.
    Server,
    /// `parla admin …` on the command line.
    Cli,
}

impl Actor {
    fn label(self) -> &'static str {
        match self {
            Actor::Server => "system:bootstrap",
            Actor::Cli => "system:cli",
        }
    }
}

/// Appends a global audit entry by `actor` (no user, no IP).
pub async fn audit_system(
    store: &Store,
    actor: Actor,
    tenant: Option<parla_admin_core::domain::TenantId>,
    action: &str,
    target: String,
    after: serde_json::Value,
) -> anyhow::Result<()> {
    store
        .audit()
        .record(NewAuditEntry {
            actor_user_id: None,
            actor_label: actor.label().to_owned(),
            tenant_id: tenant,
            action: action.to_owned(),
            target,
            before: None,
            after: Some(after),
            ip: None,
            at: Timestamp::now(),
        })
        .await
        .context("writing the audit log")?;
    Ok(())
}

/// Creates a user with `email` and `password` (policy checked) and makes it
/// a super admin; audited as `super_admin.create`.
pub async fn create_super_admin(
    store: &Store,
    email: &str,
    password: &str,
    actor: Actor,
) -> anyhow::Result<UserId> {
    let email: Email = email
        .parse()
        .with_context(|| format!("invalid e-mail {email:?}"))?;
    check_password(password)?;
    let plain = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || parla_admin_core::auth::hash_password(&plain))
        .await
        .context("hashing the password")?
        .context("hashing the password")?;
    let user = store
        .users()
        .create(NewUser {
            email: email.clone(),
            password_hash: Opaque::new(hash),
        })
        .await
        .with_context(|| format!("creating the user {email}"))?;
    store
        .memberships()
        .grant_super_admin(user.id)
        .await
        .context("granting super admin")?;
    audit_system(
        store,
        actor,
        None,
        "super_admin.create",
        user.id.to_string(),
        serde_json::json!({ "id": user.id, "email": email, "role": "super_admin" }),
    )
    .await?;
    Ok(user.id)
}

/// On start: when no super admin exists, creates one from `admin_email`
/// (`PARLA_ADMIN_EMAIL`, see [`EnvSecrets`]; default
/// `admin@parla.localhost`) and `admin_password` (`PARLA_ADMIN_PASSWORD`;
/// else a generated password, printed once on stderr, never logged).
pub async fn ensure_super_admin(
    store: &Store,
    admin_email: Option<&str>,
    admin_password: Option<&str>,
) -> anyhow::Result<()> {
    if store.super_admin_count().await? > 0 {
        return Ok(());
    }
    let email = admin_email
        .filter(|e| !e.trim().is_empty())
        .unwrap_or(DEFAULT_ADMIN_EMAIL)
        .to_owned();
    let (password, generated) = match admin_password {
        Some(p) => (p.to_owned(), false),
        None => (
            random::string_from(random::BASE62, GENERATED_PASSWORD_LEN),
            true,
        ),
    };
    create_super_admin(store, email.trim(), &password, Actor::Server)
        .await
        .context("creating the first super admin (PARLA_ADMIN_EMAIL / PARLA_ADMIN_PASSWORD)")?;
    if generated {
        eprintln!(
            "parla: created super admin {email} with password {password} (shown once; change it after logging in)"
        );
        // The password goes to stderr only, never into the log.
        tracing::warn!(%email, "created the first super admin with a generated password (printed on stderr)");
    } else {
        tracing::info!(%email, "created the first super admin from PARLA_ADMIN_EMAIL / PARLA_ADMIN_PASSWORD");
    }
    Ok(())
}

/// On start, before SIP is bound: closes the calls a previous run left live
/// (it was killed or crashed mid-call, so nothing recorded their end) as
/// `failed` with hangup cause `node_restart`, and logs how many. Today one
/// node serves a database, so this closes every live call; with several
/// nodes per database it must close only this node's calls (see
/// `parla_admin_core::store::Calls::close_after_restart`).
pub async fn close_interrupted_calls(store: &Store) -> anyhow::Result<u64> {
    let closed = store
        .calls()
        .close_after_restart(Timestamp::now())
        .await
        .context("closing the calls left live by the previous run")?;
    if closed > 0 {
        tracing::warn!(
            closed,
            "closed calls left live by the previous run as failed (node_restart)"
        );
    }
    Ok(closed)
}

/// The password for `parla admin create-super-admin`: `from_env`
/// (`PARLA_ADMIN_PASSWORD`, see [`EnvSecrets`]), else the first line of
/// standard input.
pub fn password_from_env_or_stdin(from_env: Option<String>) -> anyhow::Result<String> {
    if let Some(p) = from_env {
        return Ok(p);
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!("password: ");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(
        !password.is_empty(),
        "no password: set PARLA_ADMIN_PASSWORD or pass it on standard input"
    );
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The only test in this binary that touches these variables.
    #[test]
    fn secrets_leave_the_environment_and_stay_in_memory() {
        std::env::set_var("PARLA_ADMIN_PASSWORD", "admin password from env");
        std::env::set_var("PARLA_SECRET_KEY", "a2V5");
        std::env::set_var("PARLA_DATABASE_URL", "postgres://u:pw@db/parla");
        let taken = EnvSecrets::take();
        assert_eq!(
            taken.admin_password.as_deref(),
            Some("admin password from env")
        );
        assert_eq!(taken.secret_key.as_deref(), Some("a2V5"));
        for var in SECRET_ENV {
            assert!(std::env::var_os(var).is_none(), "{var} is still set");
        }
        assert!(!format!("{taken:?}").contains("password"), "never printed");
        // Empty values count as unset.
        std::env::set_var("PARLA_ADMIN_PASSWORD", "  ");
        assert!(EnvSecrets::take().admin_password.is_none());
    }
}
