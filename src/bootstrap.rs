//! The first operator: a super admin created on start when there is none
//! (from `PARLA_ADMIN_EMAIL` / `PARLA_ADMIN_PASSWORD`, else `admin@parla.localhost`
//! with a generated password printed once), and `parla admin
//! create-super-admin`.

use std::io::BufRead as _;

use anyhow::Context as _;
use parla_admin::auth::random;
use parla_admin::domain::{Email, Opaque, Timestamp, UserId};
use parla_admin::store::{NewAuditEntry, NewUser, Store};

use crate::admin_store::check_password;

/// E-mail of the bootstrapped super admin when `PARLA_ADMIN_EMAIL` is unset
/// (`admin@localhost` is not accepted by the login e-mail rules, which
/// require a dot in the domain; `.localhost` is reserved by RFC 6761).
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@parla.localhost";
/// Length of a generated password (base62: ~143 bits).
pub const GENERATED_PASSWORD_LEN: usize = 24;

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
    tenant: Option<parla_admin::domain::TenantId>,
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
    let hash = tokio::task::spawn_blocking(move || parla_admin::auth::hash_password(&plain))
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

/// On start: when no super admin exists, creates one from
/// `PARLA_ADMIN_EMAIL` (default `admin@localhost`) and `PARLA_ADMIN_PASSWORD`
/// (else a generated password, printed once on stderr and in the log).
pub async fn ensure_super_admin(store: &Store) -> anyhow::Result<()> {
    if store.super_admin_count().await? > 0 {
        return Ok(());
    }
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let email = env("PARLA_ADMIN_EMAIL").unwrap_or_else(|| DEFAULT_ADMIN_EMAIL.to_owned());
    let (password, generated) = match env("PARLA_ADMIN_PASSWORD") {
        Some(p) => (p, false),
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
        tracing::warn!(%email, %password, "created the first super admin with a generated password (shown once)");
    } else {
        tracing::info!(%email, "created the first super admin from PARLA_ADMIN_EMAIL / PARLA_ADMIN_PASSWORD");
    }
    Ok(())
}

/// The password for `parla admin create-super-admin`: `PARLA_ADMIN_PASSWORD`,
/// else the first line of standard input.
pub fn password_from_env_or_stdin() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("PARLA_ADMIN_PASSWORD") {
        if !p.is_empty() {
            return Ok(p);
        }
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
