//! Store errors and the mapping of database constraint violations onto them.

/// What can go wrong in a store call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist, or exists in another tenant than the scope
    /// (indistinguishable on purpose), or a referenced row (tenant, user,
    /// agent of the same tenant) does not exist.
    #[error("not found")]
    NotFound,
    /// A unique value is already taken. `field` names the rule:
    /// `tenant.name`, `tenant.slug`, `user.email`, `membership`,
    /// `api_key.prefix`, `agent.name`, `number.address`, `trunk.name`,
    /// `session.id`, `id`; or, for `calls().finish`/`calls().answer`,
    /// `call.status` when the call is no longer in a state that allows it.
    #[error("conflict: {field} already exists")]
    Conflict {
        /// Which unique rule was hit.
        field: &'static str,
    },
    /// The arguments break a rule the types cannot express (e.g. finishing
    /// a call with a live status). The message says which.
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    /// The URL is neither `sqlite:` nor `postgres://`/`postgresql://`.
    #[error("unsupported database URL scheme {scheme:?}: expected sqlite:… or postgres://…")]
    UnsupportedUrl {
        /// The part before the first `:` (the rest may hold a password).
        scheme: String,
    },
    /// Creating the data directory for the SQLite file failed.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Any other database error (connection, I/O, corrupt row, …).
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// Applying the embedded migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Unique constraints: (PostgreSQL constraint or index name, SQLite
/// "UNIQUE constraint failed: …" column list, reported field).
const UNIQUE_RULES: &[(&str, &str, &str)] = &[
    ("tenants_name_key", "tenants.name", "tenant.name"),
    ("tenants_slug_key", "tenants.slug", "tenant.slug"),
    ("users_email_key", "users.email", "user.email"),
    (
        "memberships_user_tenant_key",
        "memberships.user_id, memberships.tenant_id",
        "membership",
    ),
    (
        "memberships_super_admin_key",
        "memberships.user_id",
        "membership",
    ),
    ("api_keys_prefix_key", "api_keys.prefix", "api_key.prefix"),
    (
        "voice_agents_tenant_name_key",
        "voice_agents.tenant_id, voice_agents.name",
        "agent.name",
    ),
    (
        "phone_numbers_address_key",
        "phone_numbers.address",
        "number.address",
    ),
    (
        "sip_trunks_tenant_name_key",
        "sip_trunks.tenant_id, sip_trunks.name",
        "trunk.name",
    ),
    ("sessions_pkey", "sessions.id", "session.id"),
];

/// The reported field for a unique violation, from the PostgreSQL
/// constraint name or the SQLite message.
fn unique_field(err: &dyn sqlx::error::DatabaseError) -> Option<&'static str> {
    if let Some(constraint) = err.constraint() {
        if let Some((_, _, field)) = UNIQUE_RULES.iter().find(|(pg, _, _)| *pg == constraint) {
            return Some(field);
        }
        // Primary keys of the UUID-keyed tables: `<table>_pkey`.
        return constraint.ends_with("_pkey").then_some("id");
    }
    let columns = err.message().strip_prefix("UNIQUE constraint failed: ")?;
    if let Some((_, _, field)) = UNIQUE_RULES
        .iter()
        .find(|(_, sqlite, _)| *sqlite == columns)
    {
        return Some(field);
    }
    columns.ends_with(".id").then_some("id")
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match &err {
            sqlx::Error::RowNotFound => return StoreError::NotFound,
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation => {
                    if let Some(field) = unique_field(db.as_ref()) {
                        return StoreError::Conflict { field };
                    }
                    tracing::warn!(error = %db, "unique violation on an unmapped constraint");
                }
                ErrorKind::ForeignKeyViolation => return StoreError::NotFound,
                _ => {}
            },
            _ => {}
        }
        StoreError::Database(err)
    }
}
