//! sqlx glue shared by the domain types: each type is stored either as TEXT
//! (through its `Display`/`FromStr` pair, so a value read back is parsed
//! again) or as a 64-bit integer. The impls are generic over the database,
//! so the same type binds and decodes on SQLite and PostgreSQL.

/// Implements `sqlx::Type` for `$t` as the SQL type of `$repr` (`String`:
/// TEXT, `i64`: BIGINT/INTEGER), on every database that has it. Generic
/// types name their parameters last: `sql_type_as!(JsonText<T> => String, for T)`.
macro_rules! sql_type_as {
    ($t:ty => $repr:ty $(, for $($g:ident),+)?) => {
        impl<$($($g,)+)? DB: sqlx::Database> sqlx::Type<DB> for $t
        where
            $repr: sqlx::Type<DB>,
        {
            fn type_info() -> <DB as sqlx::Database>::TypeInfo {
                <$repr as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &<DB as sqlx::Database>::TypeInfo) -> bool {
                <$repr as sqlx::Type<DB>>::compatible(ty)
            }
        }
    };
}

/// Implements `sqlx::{Type, Encode, Decode}` for a type stored as TEXT.
/// Encoding uses `Display`; decoding re-parses with `FromStr`, so a corrupt
/// row surfaces as a decode error instead of an invalid value.
macro_rules! sql_text {
    ($t:ty) => {
        $crate::domain::sql::sql_type_as!($t => String);

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $t
        where
            String: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <String as sqlx::Encode<'q, DB>>::encode(self.to_string(), buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $t
        where
            String: sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <String as sqlx::Decode<'r, DB>>::decode(value)?;
                Ok(text.parse::<$t>()?)
            }
        }
    };
}

/// Implements `sqlx::{Type, Encode, Decode}` for a type stored as a 64-bit
/// integer (BIGINT in PostgreSQL, INTEGER in SQLite). Needs
/// `From<T> for i64` and `TryFrom<i64> for T`.
macro_rules! sql_i64 {
    ($t:ty) => {
        $crate::domain::sql::sql_type_as!($t => i64);

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $t
        where
            i64: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <i64 as sqlx::Encode<'q, DB>>::encode(i64::from(*self), buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $t
        where
            i64: sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let raw = <i64 as sqlx::Decode<'r, DB>>::decode(value)?;
                Ok(<$t>::try_from(raw)?)
            }
        }
    };
}

/// Implements `Serialize` (as the `Display` string) and `Deserialize`
/// (through `FromStr`, so invalid JSON values are rejected with the parser's
/// message).
macro_rules! serde_via_str {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <String as serde::Deserialize>::deserialize(d)?;
                text.parse::<$t>().map_err(serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use serde_via_str;
pub(crate) use sql_i64;
pub(crate) use sql_text;
pub(crate) use sql_type_as;
