//! The query shapes the repositories share, written once for both
//! backends: bind a tuple of values to `$1, $2, …` of a `const` SQL text,
//! run it on the active pool, and map the outcome (`NotFound` when nothing
//! matched, a [`Paged`] list with its total, …).
//!
//! Bind values are passed as a tuple, in placeholder order:
//! `fetch_one::<User>(db, SQL, (id, status))`. A tuple element may be any
//! value that encodes on both backends, references and `Option`s included;
//! [`Then`] chains two such lists. The `*_scoped` helpers bind the scope's
//! tenant themselves, so their SQL must filter on `tenant_id = $2` (or
//! `$1` for lists). Queries with a shape of their own (transactions,
//! several dependent statements) use [`with_conn!`] directly.

use sqlx::postgres::{PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::{Arguments, Database, Encode, FromRow, Type};

use crate::domain::TenantId;

use super::{with_conn, Conn, DeleteGrant, Page, Paged, StoreError, StoreResult, TenantScope};

/// A row type that decodes on both backends (`#[derive(sqlx::FromRow)]`).
pub(super) trait Record:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

impl<T> Record for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

/// The bind values of one query on `DB`, in placeholder order. Implemented
/// for tuples (up to 17 elements) of values that encode on `DB`.
pub(super) trait Params<DB: Database> {
    /// Appends every value to `args`.
    fn bind_to(&self, args: &mut Args<DB>);
}

impl<DB: Database, P: Params<DB>> Params<DB> for &P {
    fn bind_to(&self, args: &mut Args<DB>) {
        (**self).bind_to(args);
    }
}

/// The values of `.0`, then those of `.1`.
pub(super) struct Then<A, B>(pub(super) A, pub(super) B);

impl<DB: Database, A: Params<DB>, B: Params<DB>> Params<DB> for Then<A, B> {
    fn bind_to(&self, args: &mut Args<DB>) {
        self.0.bind_to(args);
        self.1.bind_to(args);
    }
}

/// [`Params`] on both backends: what the helpers below accept.
pub(super) trait Binds: Params<Sqlite> + Params<Postgres> {}

impl<P: Params<Sqlite> + Params<Postgres>> Binds for P {}

macro_rules! tuple_params {
    ($(($($t:ident . $i:tt),*)),+ $(,)?) => {
        $(
            impl<'q, DB: Database, $($t),*> Params<DB> for ($($t,)*)
            where
                $($t: Encode<'q, DB> + Type<DB>),*
            {
                #[allow(unused_variables)] // the empty tuple binds nothing
                fn bind_to(&self, args: &mut Args<DB>) {
                    $(args.push(&self.$i);)*
                }
            }
        )+
    };
}

tuple_params!(
    (),
    (A.0),
    (A.0, B.1),
    (A.0, B.1, C.2),
    (A.0, B.1, C.2, D.3),
    (A.0, B.1, C.2, D.3, E.4),
    (A.0, B.1, C.2, D.3, E.4, F.5),
    (A.0, B.1, C.2, D.3, E.4, F.5, G.6),
    (A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7),
    (A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8),
    (A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9),
    (A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9, K.10),
    (A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9, K.10, L.11),
    (A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9, K.10, L.11, M.12),
    (A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9, K.10, L.11, M.12, N.13),
    (A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9, K.10, L.11, M.12, N.13, O.14),
    (A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9, K.10, L.11, M.12, N.13, O.14, P.15),
    (A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9, K.10, L.11, M.12, N.13, O.14, P.15, Q.16),
);

/// Arguments being bound for one query. Like `Query::bind`, the first
/// value that fails to encode is remembered and reported when the query
/// would run (as `sqlx::Error::Encode`).
pub(super) struct Args<DB: Database> {
    args: Result<DB::Arguments, sqlx::error::BoxDynError>,
}

impl<DB: Database> Args<DB> {
    /// `params` bound for a query on `DB`.
    fn new(params: &impl Params<DB>) -> Self {
        let mut args = Self {
            args: Ok(DB::Arguments::default()),
        };
        params.bind_to(&mut args);
        args
    }

    /// Appends one value.
    fn push<'t, T: Encode<'t, DB> + Type<DB>>(&mut self, value: T) {
        let Ok(args) = &mut self.args else {
            return;
        };
        let number = args.len() + 1;
        if let Err(error) = args.add(value) {
            self.args = Err(format!("Encoding argument ${number} failed: {error}").into());
        }
    }

    /// The arguments, or the encoding error.
    fn finish(self) -> Result<DB::Arguments, sqlx::Error> {
        self.args.map_err(sqlx::Error::Encode)
    }
}

/// The row `sql` returns, if any.
pub(super) async fn fetch_optional<T: Record>(
    db: Conn<'_>,
    sql: &'static str,
    params: impl Binds,
) -> StoreResult<Option<T>> {
    Ok(with_conn!(db, |pool, D| {
        let args = Args::<D>::new(&params).finish()?;
        sqlx::query_as_with(sql, args).fetch_optional(pool).await?
    }))
}

/// Every row `sql` returns.
pub(super) async fn fetch_all<T: Record>(
    db: Conn<'_>,
    sql: &'static str,
    params: impl Binds,
) -> StoreResult<Vec<T>> {
    Ok(with_conn!(db, |pool, D| {
        let args = Args::<D>::new(&params).finish()?;
        sqlx::query_as_with(sql, args).fetch_all(pool).await?
    }))
}

/// The row `sql` returns (`INSERT … RETURNING *`, `UPDATE … RETURNING *`);
/// `NotFound` if there is none (e.g. the update matched no row).
pub(super) async fn fetch_one<T: Record>(
    db: Conn<'_>,
    sql: &'static str,
    params: impl Binds,
) -> StoreResult<T> {
    fetch_optional(db, sql, params)
        .await?
        .ok_or(StoreError::NotFound)
}

/// The row of a tenant-owned table with this key in the scope's tenant;
/// `sql` filters on `<key> = $1 AND tenant_id = $2`.
pub(super) async fn fetch_scoped<T: Record, I>(
    db: Conn<'_>,
    sql: &'static str,
    id: I,
    scope: &TenantScope,
) -> StoreResult<Option<T>>
where
    (I, TenantId): Binds,
{
    fetch_optional(db, sql, (id, scope.tenant())).await
}

/// Runs `sql` and returns how many rows it affected.
pub(super) async fn execute(
    db: Conn<'_>,
    sql: &'static str,
    params: impl Binds,
) -> StoreResult<u64> {
    Ok(with_conn!(db, |pool, D| {
        let args = Args::<D>::new(&params).finish()?;
        sqlx::query_with(sql, args)
            .execute(pool)
            .await?
            .rows_affected()
    }))
}

/// `Ok` if a statement affected a row, `NotFound` if it affected none.
pub(super) fn found(affected: u64) -> StoreResult<()> {
    if affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Runs `sql`; `NotFound` if it affected no row.
pub(super) async fn execute_found(
    db: Conn<'_>,
    sql: &'static str,
    params: impl Binds,
) -> StoreResult<()> {
    found(execute(db, sql, params).await?)
}

/// Hard-deletes with `sql` (`DELETE … WHERE <key> = $1 …`), which only a
/// super admin may do; `NotFound` if no row matched.
pub(super) async fn delete<K>(
    db: Conn<'_>,
    _grant: &DeleteGrant,
    sql: &'static str,
    key: K,
) -> StoreResult<()>
where
    (K,): Binds,
{
    execute_found(db, sql, (key,)).await
}

/// Hard-deletes the row of a tenant-owned table with this key in the
/// scope's tenant, which only a super admin may do; `sql` filters on
/// `<key> = $1 AND tenant_id = $2`. `NotFound` if no row matched.
pub(super) async fn delete_scoped<I>(
    db: Conn<'_>,
    _grant: &DeleteGrant,
    sql: &'static str,
    id: I,
    scope: &TenantScope,
) -> StoreResult<()>
where
    (I, TenantId): Binds,
{
    execute_found(db, sql, (id, scope.tenant())).await
}

/// The number `sql` (`SELECT COUNT(*) …`) returns.
pub(super) async fn count(db: Conn<'_>, sql: &'static str, params: impl Binds) -> StoreResult<u64> {
    let count: i64 = with_conn!(db, |pool, D| {
        let args = Args::<D>::new(&params).finish()?;
        sqlx::query_scalar_with(sql, args).fetch_one(pool).await?
    });
    Ok(u64::try_from(count).unwrap_or(0))
}

/// One page of a list: `count_sql` counts every match, `list_sql` takes
/// the same `params` followed by `LIMIT` and `OFFSET` as its last two
/// placeholders.
pub(super) async fn paged<T: Record>(
    db: Conn<'_>,
    count_sql: &'static str,
    list_sql: &'static str,
    params: impl Binds,
    page: Page,
) -> StoreResult<Paged<T>> {
    let total = count(db, count_sql, &params).await?;
    let window = (page.limit(), page.offset());
    let items = fetch_all(db, list_sql, Then(&params, window)).await?;
    Ok(Paged::new(items, total, page))
}

/// [`paged`] over a tenant-owned table: `tenant_id = $1`, then `LIMIT $2
/// OFFSET $3`.
pub(super) async fn paged_scoped<T: Record>(
    db: Conn<'_>,
    count_sql: &'static str,
    list_sql: &'static str,
    scope: &TenantScope,
    page: Page,
) -> StoreResult<Paged<T>> {
    paged(db, count_sql, list_sql, (scope.tenant(),), page).await
}
