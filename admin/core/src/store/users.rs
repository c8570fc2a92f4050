//! Users: logins. Global, because one person may belong to several tenants
//! (see [`Memberships`](super::Memberships)); secrets arrive already hashed
//! or encrypted from the auth layer.

use super::query;
use super::{Conn, DeleteGrant, Page, Paged, StoreResult};
use crate::domain::{Email, JsonText, Opaque, Timestamp, UserId, UserStatus};

/// A user row. Deliberately not `Serialize`: it carries secrets.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    /// Identifier.
    pub id: UserId,
    /// Login, unique, lowercased.
    pub email: Email,
    /// Argon2 PHC string produced by the auth layer.
    pub password_hash: Opaque,
    /// Encrypted TOTP secret; `None` when 2FA is off.
    pub totp_secret: Option<Opaque>,
    /// Hashed single-use recovery codes (JSON array of strings).
    pub totp_recovery: Option<JsonText<Vec<Opaque>>>,
    /// Active or disabled.
    pub status: UserStatus,
    /// Creation time.
    pub created_at: Timestamp,
}

/// Input of [`Users::create`].
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Login (unique).
    pub email: Email,
    /// Argon2 PHC string.
    pub password_hash: Opaque,
}

/// User repository. Obtain with [`Store::users`](super::Store::users).
#[derive(Clone, Copy, Debug)]
pub struct Users<'s> {
    db: Conn<'s>,
}

impl<'s> Users<'s> {
    pub(crate) fn new(db: Conn<'s>) -> Self {
        Self { db }
    }

    /// Creates an active user without 2FA. `Conflict { field: "user.email" }`
    /// if the e-mail is taken.
    pub async fn create(&self, new: NewUser) -> StoreResult<User> {
        const SQL: &str = "INSERT INTO users (id, email, password_hash, status, created_at) \
                           VALUES ($1, $2, $3, $4, $5) RETURNING *";
        let binds = (
            UserId::generate(),
            &new.email,
            &new.password_hash,
            UserStatus::Active,
            self.db.now(),
        );
        query::fetch_one(self.db, SQL, binds).await
    }

    /// The user with this id.
    pub async fn get(&self, id: UserId) -> StoreResult<Option<User>> {
        const SQL: &str = "SELECT * FROM users WHERE id = $1";
        query::fetch_optional(self.db, SQL, (id,)).await
    }

    /// The user with this e-mail (login).
    pub async fn find_by_email(&self, email: &Email) -> StoreResult<Option<User>> {
        const SQL: &str = "SELECT * FROM users WHERE email = $1";
        query::fetch_optional(self.db, SQL, (email,)).await
    }

    /// All users, ordered by e-mail (super admin view; a tenant's users are
    /// listed through [`Memberships::list`](super::Memberships::list)).
    pub async fn list(&self, page: Page) -> StoreResult<Paged<User>> {
        const COUNT: &str = "SELECT COUNT(*) FROM users";
        const SQL: &str = "SELECT * FROM users ORDER BY email LIMIT $1 OFFSET $2";
        query::paged(self.db, COUNT, SQL, (), page).await
    }

    /// Replaces the password hash. `NotFound` if no such user.
    pub async fn set_password_hash(&self, id: UserId, hash: &Opaque) -> StoreResult<User> {
        const SQL: &str = "UPDATE users SET password_hash = $2 WHERE id = $1 RETURNING *";
        query::fetch_one(self.db, SQL, (id, hash)).await
    }

    /// Sets (both `Some`) or clears (both `None`) 2FA: the encrypted secret
    /// and the hashed recovery codes. Also used to store the remaining codes
    /// after one is consumed. `NotFound` if no such user.
    pub async fn set_totp(
        &self,
        id: UserId,
        secret: Option<&Opaque>,
        recovery: Option<&JsonText<Vec<Opaque>>>,
    ) -> StoreResult<User> {
        const SQL: &str =
            "UPDATE users SET totp_secret = $2, totp_recovery = $3 WHERE id = $1 RETURNING *";
        query::fetch_one(self.db, SQL, (id, secret, recovery)).await
    }

    /// Replaces the hashed recovery codes with `new` only if they are still
    /// `old` (compare-and-swap, so a code cannot be consumed twice by
    /// concurrent logins). Returns whether the swap happened.
    pub async fn replace_recovery_codes(
        &self,
        id: UserId,
        old: &JsonText<Vec<Opaque>>,
        new: &JsonText<Vec<Opaque>>,
    ) -> StoreResult<bool> {
        const SQL: &str =
            "UPDATE users SET totp_recovery = $3 WHERE id = $1 AND totp_recovery = $2";
        Ok(query::execute(self.db, SQL, (id, old, new)).await? == 1)
    }

    /// Enables or disables the login. `NotFound` if no such user.
    pub async fn set_status(&self, id: UserId, status: UserStatus) -> StoreResult<User> {
        const SQL: &str = "UPDATE users SET status = $2 WHERE id = $1 RETURNING *";
        query::fetch_one(self.db, SQL, (id, status)).await
    }

    /// Deletes the user with their memberships and sessions; API keys they
    /// created stay (with `created_by = None`). `NotFound` if no such user.
    pub async fn delete(&self, grant: &DeleteGrant, id: UserId) -> StoreResult<()> {
        const SQL: &str = "DELETE FROM users WHERE id = $1";
        query::delete(self.db, grant, SQL, id).await
    }
}
