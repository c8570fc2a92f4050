//! Opening the admin database and the secret key that encrypts provider
//! credentials in it.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use parla_admin_core::auth::secrets::SECRET_KEY_ENV;
use parla_admin_core::auth::SecretKey;
use parla_admin_core::store::Store;

use crate::cli::StoreArgs;

/// File in the data directory holding the generated secret key (base64),
/// used when `PARLA_SECRET_KEY` is not set.
pub const SECRET_KEY_FILE: &str = "secret.key";

/// Connects to `PARLA_DATABASE_URL` / `--database-url` when given (PostgreSQL
/// or SQLite URL), else to `<data dir>/parla-admin.sqlite3` (created on first
/// start); pending migrations are applied either way.
pub async fn open_store(args: &StoreArgs) -> anyhow::Result<Store> {
    let store = match args.database_url.as_deref().map(str::trim) {
        Some(url) if !url.is_empty() => Store::connect(url)
            .await
            .with_context(|| format!("opening the database at {}", redact_url(url)))?,
        _ => Store::open_data_dir(&args.data_dir)
            .await
            .with_context(|| {
                format!(
                    "opening the embedded database in {}",
                    args.data_dir.display()
                )
            })?,
    };
    tracing::info!(backend = %store.backend(), "admin database ready");
    Ok(store)
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db` (for errors).
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

/// The key from `from_env` (the value of `PARLA_SECRET_KEY`, taken out of
/// the environment at start-up, see [`crate::bootstrap::EnvSecrets`]); else
/// the one in `<data dir>/secret.key`; else a new random key written there
/// (mode 0600), announced in the log. A malformed `PARLA_SECRET_KEY` or key
/// file is an error, never replaced; the error never shows the key.
pub fn load_secret_key(data_dir: &Path, from_env: Option<&str>) -> anyhow::Result<SecretKey> {
    if let Some(value) = from_env.filter(|v| !v.trim().is_empty()) {
        return SecretKey::from_base64(value)
            .with_context(|| format!("reading the secret key from {SECRET_KEY_ENV}"));
    }
    key_from_file(&data_dir.join(SECRET_KEY_FILE))
}

/// The key in `path`, generated there if the file does not exist.
fn key_from_file(path: &PathBuf) -> anyhow::Result<SecretKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => SecretKey::from_base64(&text)
            .with_context(|| format!("the secret key in {} is malformed", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => generate_key_file(path),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn generate_key_file(path: &PathBuf) -> anyhow::Result<SecretKey> {
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let key = SecretKey::generate();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(format!("{}\n", key.to_base64()).as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tracing::warn!(
        path = %path.display(),
        "generated a new secret key for provider credentials; back it up, or set {SECRET_KEY_ENV} (required when several nodes share a database)"
    );
    Ok(key)
}

/// Fails unless `password` satisfies the password policy.
pub fn check_password(password: &str) -> anyhow::Result<()> {
    if let Err(e) = parla_admin_core::auth::PasswordPolicy::check(password) {
        bail!("the password does not meet the policy: {e}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://parla:s3cret@db:5432/parla"),
            "postgres://parla:***@db:5432/parla"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn key_file_is_generated_once_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("parla-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join(SECRET_KEY_FILE);
        let first = generate_key_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = SecretKey::from_base64(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(first.to_base64(), again.to_base64());
        assert!(generate_key_file(&path).is_err(), "never overwritten");
        std::fs::write(&path, "garbage").unwrap();
        let err = key_from_file(&path).unwrap_err();
        assert!(format!("{err:#}").contains("is malformed"), "{err:#}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
