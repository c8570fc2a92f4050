//! JSON documents stored as TEXT.

use std::ops::{Deref, DerefMut};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::sql::sql_type_as;

/// A value stored in a TEXT column as JSON (both backends; PostgreSQL does
/// not use `json`/`jsonb` here so the schema is identical). Serializes
/// transparently as `T`. Derefs to `T`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct JsonText<T>(pub T);

impl<T> JsonText<T> {
    /// The wrapped value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for JsonText<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> Deref for JsonText<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for JsonText<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

sql_type_as!(JsonText<T> => String, for T);

impl<'q, T: Serialize, DB: sqlx::Database> sqlx::Encode<'q, DB> for JsonText<T>
where
    String: sqlx::Encode<'q, DB>,
{
    fn encode_by_ref(
        &self,
        buf: &mut <DB as sqlx::Database>::ArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        let text = serde_json::to_string(&self.0)?;
        <String as sqlx::Encode<'q, DB>>::encode(text, buf)
    }
}

impl<'r, T: DeserializeOwned, DB: sqlx::Database> sqlx::Decode<'r, DB> for JsonText<T>
where
    String: sqlx::Decode<'r, DB>,
{
    fn decode(
        value: <DB as sqlx::Database>::ValueRef<'r>,
    ) -> Result<Self, sqlx::error::BoxDynError> {
        let text = <String as sqlx::Decode<'r, DB>>::decode(value)?;
        Ok(Self(serde_json::from_str(&text)?))
    }
}
