//! Values produced by the auth layer that the store keeps verbatim.

use std::fmt;

use super::sql::sql_type_as;

/// An already-hashed or already-encrypted value (argon2 PHC string, API key
/// hash, encrypted TOTP secret or credentials blob, CSRF token). The store
/// never interprets it; `Debug` prints only its length so it cannot leak
/// into logs. Stored as TEXT.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Opaque(String);

impl Opaque {
    /// Wraps a value produced by the auth layer.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The stored text, for the auth layer to verify or decrypt.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Consumes the wrapper.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Debug for Opaque {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Opaque(<{} bytes>)", self.0.len())
    }
}

sql_type_as!(Opaque => String);

impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for Opaque
where
    String: sqlx::Encode<'q, DB>,
{
    fn encode_by_ref(
        &self,
        buf: &mut <DB as sqlx::Database>::ArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <String as sqlx::Encode<'q, DB>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for Opaque
where
    String: sqlx::Decode<'r, DB>,
{
    fn decode(
        value: <DB as sqlx::Database>::ValueRef<'r>,
    ) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(Self(<String as sqlx::Decode<'r, DB>>::decode(value)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_leak() {
        let secret = Opaque::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA");
        let dbg = format!("{secret:?}");
        assert!(!dbg.contains("argon2"), "{dbg}");
        assert_eq!(dbg, "Opaque(<44 bytes>)");
        assert_eq!(
            secret.expose(),
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
        );
    }
}
